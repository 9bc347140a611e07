"""Measuring tools (not part of training): the timed training step and
inference of a config (what tools/benchmarks/benchmark.py,
compare_query2label.py and model_zoo_costs.py print), and CPU memory."""
from .step_timer import (PHASES, StepTimer, add_ratios, build_model,
                         dtype_label, ema_hook_cfg, format_table, measure,
                         measure_all, peak_memory, random_batch, train_size,
                         write_results)

__all__ = ['PHASES', 'StepTimer', 'add_ratios', 'build_model', 'dtype_label',
           'ema_hook_cfg', 'format_table', 'measure', 'measure_all',
           'peak_memory', 'random_batch', 'train_size', 'write_results']
