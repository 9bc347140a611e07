# Runtime shared by every mlic config.
default_scope = 'mlic'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keep the last 3 epoch checkpoints and the best one by mAP; nothing
    # half-written, nothing with NaN.
    checkpoint=dict(
        type='SafeCheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='mAP',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # one training run per work dir (a second one is refused, naming it)
    work_dir_lock=dict(type='WorkDirLockHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # Stops at the first NaN/inf training loss (max_skips=N: let the fp16
    # loss scaler skip up to N overflowing steps in a row instead).
    finite_loss=dict(type='FiniteLossHook', max_skips=0),
    # --resume stops if the config's lr schedule is not the checkpoint's
    # (another max_epochs, batch size or lr would be silently ignored).
    schedule_check=dict(type='ScheduleCheckHook'),
    # checkpoints carry the random-number states; --resume restores them
    random_state=dict(type='RandomStateHook'),
)
# Fails fast when the head's num_classes disagrees with a dataset.
custom_hooks = [dict(type='NumClassCheckHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # tools switch to gloo on CPU-only hosts
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
