"""Cost of a training step under each unknown-label mode, against the
full-label step, in one process (docs/partial_labels.md).

    python tools/benchmarks/benchmark_partial_modes.py [--config CFG]
        [--batch 32] [--steps 20] [--rounds 3] [--classes N]

Builds the config's model (default the demo's), one batch of random images
whose labels are half hidden, and times forward + backward + optimizer
step for each mode of PartialLabelLoss and for the plain loss on full
labels (the reference), in interleaved rounds; prints the median step time
of each and its ratio to the reference. ``--classes`` widens the head (a
large label space), with grouped queries of 20 classes when C > 100.
"""
import argparse
import statistics
import time

import torch
from mmpretrain.structures import DataSample

MODES = (('full labels, plain loss', None),
         ('ignore', dict(mode='ignore')),
         ('negative', dict(mode='negative')),
         ('wan', dict(mode='negative', negative_weight='wan')),
         ('selective', dict(mode='selective')),
         ('large_loss reject', dict(mode='large_loss', rate_per_epoch=0.1)),
         ('large_loss flip', dict(mode='large_loss', correction='flip',
                                  rate_per_epoch=0.1)),
         ('epr', dict(mode='epr', expected_positives=2.0)),
         # the label table's rows: the batch's images are rows 0..n-1
         ('role', dict(mode='role', expected_positives=2.0,
                       num_images=1000)))


def build(cfg, loss, classes):
    from mlic.registry import MODELS
    model_cfg = cfg.model.copy()
    head = dict(model_cfg['head'])
    if classes:
        head['num_classes'] = classes
        if classes > 100:
            head['num_queries'] = -(-classes // 20)
        model_cfg['data_preprocessor'] = dict(
            cfg.get('data_preprocessor', {}), num_classes=classes)
    base = head['loss'] if head['loss'].get('type') != 'PartialLabelLoss' \
        else head['loss']['base']
    head['loss'] = base if loss is None else dict(
        type='PartialLabelLoss', base=base, **loss)
    model_cfg['head'] = head
    model = MODELS.build(model_cfg)
    model.train()
    return model


def batch(num_classes, size, n, hide):
    from mlic.datasets.hidden_labels import hidden_classes
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (n, 3, size, size), generator=g,
                           dtype=torch.uint8)
    samples = []
    for i in range(n):
        labels = torch.randperm(num_classes, generator=g)[:2].tolist()
        sample = DataSample().set_gt_label(labels)
        sample.set_metainfo(dict(sample_idx=i))
        if hide:
            unknown = hidden_classes('random', 0, i, labels, num_classes,
                                     0.5).tolist()
            sample.set_gt_label(sorted(set(labels) - set(unknown)))
            sample.set_field(unknown, 'gt_label_unknown')
        samples.append(sample)
    return dict(inputs=list(images), data_samples=samples)


def loss_only(batch_size, class_counts, steps, rounds):
    from mlic.registry import MODELS
    base = dict(type='AsymmetricPolynomialLoss', gamma_pos=0, gamma_neg=2,
                clip=0.05, alpha1=0.0, alpha2=1.75, beta1=1.0)
    print(f'loss alone, batch {batch_size}, float32, '
          f'{torch.get_num_threads()} threads: ms per forward + backward '
          f'(median of {rounds} rounds of {steps})')
    print('| mode | ' + ' | '.join(f'C={c}' for c in class_counts) + ' |')
    print('|---|' + '---|' * len(class_counts))
    out = {}
    for name, loss_cfg in MODES:
        row = []
        for c in class_counts:
            loss = MODELS.build(base if loss_cfg is None else dict(
                type='PartialLabelLoss', base=base, **loss_cfg))
            g = torch.Generator().manual_seed(0)
            x = torch.randn(batch_size, c, generator=g, requires_grad=True)
            y = (torch.rand(batch_size, c, generator=g) < 2 / c).float()
            if loss_cfg is not None:
                y[torch.rand(batch_size, c, generator=g) < 0.5] = -1
            extra = dict(sample_indices=torch.arange(batch_size)) if \
                getattr(loss, 'takes_sample_indices', False) else {}
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(steps):
                    loss(x, y, avg_factor=batch_size, **extra).backward()
                times.append((time.perf_counter() - start) / steps)
            row.append(statistics.median(times))
        out[name] = row
        print(f'| {name} | ' + ' | '.join(f'{1000 * t:.2f}' for t in row)
              + ' |')
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--loss-only', action='store_true')
    parser.add_argument('--config',
                        default='configs/partial_labels/shapes_demo_hidden.py')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--classes', type=int, nargs='+', default=[0])
    args = parser.parse_args(argv)
    if args.loss_only:
        return loss_only(args.batch, [c or 12 for c in args.classes],
                         args.steps, args.rounds)
    args.classes = args.classes[0]
    from mlic.utils import load_config, register_all_modules
    register_all_modules()
    cfg = load_config(args.config)
    results = {}
    models = {}
    for name, loss in MODES:
        torch.manual_seed(0)
        model = build(cfg, loss, args.classes)
        num_classes = model.head.num_classes
        data = batch(num_classes, args.size, args.batch, loss is not None)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        models[name] = (model, data, opt)
        results[name] = []

    def step(model, data, opt):
        batch_ = model.data_preprocessor(data, True)
        losses = model(**batch_, mode='loss')
        total = sum(v for v in losses.values())
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()

    for name, (model, data, opt) in models.items():  # warm up
        for _ in range(3):
            step(model, data, opt)
    for _ in range(args.rounds):
        for name, (model, data, opt) in models.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step(model, data, opt)
            results[name].append((time.perf_counter() - start) / args.steps)
    ref = statistics.median(results[MODES[0][0]])
    print(f'batch {args.batch}, {args.size} px, {num_classes} classes, '
          f'float32, {torch.get_num_threads()} threads; median of '
          f'{args.rounds} rounds of {args.steps} steps')
    print('| mode | ms/step | ratio to full labels |')
    print('|---|---|---|')
    out = {}
    for name, _ in MODES:
        t = statistics.median(results[name])
        out[name] = t
        print(f'| {name} | {1000 * t:.1f} | {t / ref:.3f} |')
    return out


if __name__ == '__main__':
    main()
