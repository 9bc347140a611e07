#!/usr/bin/env bash
# Train every built-in-dataset ablation config, then print a summary table.
# Usage: bash tools/benchmarks/run_shapes_ablations.sh WORK_ROOT [PARALLEL] [train.py options]
#   PARALLEL: how many runs at once (default 1; e.g. 8 on a GPU machine).
#   ONLY="shapes_enc_none shapes_loss_bce": run just these configs.
#   Example (12-epoch schedule):
#     bash tools/benchmarks/run_shapes_ablations.sh work_dirs/abl 1 \
#         --cfg-options train_cfg.max_epochs=12
set -u
ROOT=${1:-work_dirs/ablations}
PARALLEL=${2:-1}
shift 2 2>/dev/null || shift $#
EXTRA="$*"
PYTHON=${PYTHON:-python}
HERE="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$ROOT"
# Generate the dataset once before the runs start in parallel.
"$PYTHON" "$HERE/tools/misc/generate_shapes.py" >/dev/null
if [ -n "${ONLY:-}" ]; then
    CONFIGS=$(for n in $ONLY; do echo "$HERE/configs/q2l_irpe/ablations/$n.py"; done)
else
    CONFIGS=$(ls "$HERE"/configs/q2l_irpe/ablations/shapes_*.py)
fi
printf '%s\n' $CONFIGS | xargs -P "$PARALLEL" -I{} sh -c \
    'name=$(basename {} .py); "$0" "$1/tools/train.py" {} --work-dir "$2/$name" $3 > "$2/$name.log" 2>&1; echo "$name exit $?"' \
    "$PYTHON" "$HERE" "$ROOT" "$EXTRA"
"$PYTHON" "$HERE/tools/benchmarks/summarize_runs.py" $(for c in $CONFIGS; do echo "$ROOT/$(basename "$c" .py)"; done)
