#!/usr/bin/env bash
# Shared by dist_train.sh and dist_test.sh: torchrun TOOL with NPROCS
# processes per node.   bash tools/dist_launch.sh TOOL.py NPROCS [args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# Works on CPU-only machines too (gloo backend).
set -e
TOOL=$1
NPROCS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}
CALLER=${MLIC_LAUNCHER:-$0}

# Another job on the same port makes torchrun fail with EADDRINUSE; say so.
if [ "$NODE_RANK" = 0 ] && ! "$PYTHON" -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('', int(sys.argv[1])))" "$PORT" 2>/dev/null; then
    echo "$(basename "$CALLER"): port $PORT is in use (another job?). Choose a free one: PORT=29501 bash $CALLER ${MLIC_LAUNCH_ARGS:-}" >&2
    exit 1
fi

"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROCS" \
    --master_port="$PORT" \
    "$(dirname "$0")/$TOOL" \
    "${@:3}" \
    --launcher pytorch
