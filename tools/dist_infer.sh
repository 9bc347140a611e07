#!/usr/bin/env bash
# Usage: bash tools/dist_infer.sh CONFIG CHECKPOINT NUM_PROCS INPUT... --out DIR [infer.py options]
# The inputs are sharded over NUM_PROCS processes (one GPU each when there
# are GPUs); each writes DIR/part-<rank>-of-<n>.jsonl and rank 0 merges them
# into DIR/predictions.jsonl. Multi-node: NNODES, NODE_RANK, MASTER_ADDR.
MLIC_LAUNCHER=$0 MLIC_LAUNCH_ARGS="$*" \
    exec bash "$(dirname "$0")/dist_launch.sh" infer.py "$3" "$1" "$2" "${@:4}"
