#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# Works on CPU-only machines too (gloo backend).
MLIC_LAUNCHER=$0 MLIC_LAUNCH_ARGS="$*" \
    exec bash "$(dirname "$0")/dist_launch.sh" train.py "$2" "$1" "${@:3}"
