"""A web demo of a trained model in the browser (Gradio).

    python tools/visualization/web_demo.py CONFIG CHECKPOINT [--port 7860]
        [--host 127.0.0.1] [--thr-file thresholds.json | --thr 0.5]
        [--examples IMG_OR_FOLDER ...] [--device cpu|cuda] [--share]

Open http://HOST:PORT: drop, paste or pick an image; the labels above
threshold with their scores as bars; the attention map of any label; a
threshold slider that re-labels without running the model again. The same
server answers Gradio's API (``/predict``: image in, labels and scores
out; docs/visualization_and_deployment.md). Needs ``pip install -e
".[demo]"``. The app itself: :mod:`mlic.apis.web_demo`.
"""
import argparse
import sys

from mlic.apis import MultiLabelInferencer, expand_inputs
from mlic.apis.web_demo import build_app, require_gradio
from mlic.utils import check_file_exists


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='mlic web demo')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--port', type=int, default=7860)
    parser.add_argument('--host', default='127.0.0.1',
                        help='0.0.0.0 to serve other machines')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--thr', type=float, help='one threshold')
    group.add_argument('--thr-file', help='per-class thresholds (JSON)')
    parser.add_argument('--examples', nargs='*', default=[],
                        help='images or folders offered as examples '
                        '(the first 8)')
    parser.add_argument('--device', help='cpu, cuda (default: cuda when '
                        'available)')
    parser.add_argument('--share', action='store_true',
                        help="a public gradio.live link (Gradio's tunnel)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        require_gradio()
    except ImportError as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(2)
    check_file_exists(args.checkpoint, 'checkpoint')
    check_file_exists(args.thr_file, 'threshold file given to --thr-file')
    infer = MultiLabelInferencer(
        args.config, args.checkpoint, device=args.device,
        thresholds=args.thr_file if args.thr_file else args.thr)
    examples = [e for e in expand_inputs(args.examples)
                if isinstance(e, str)][:8] if args.examples else []
    app = build_app(infer, examples, title=f'mlic: {args.config}')
    print(f'web demo on http://{args.host}:{args.port}', flush=True)
    app.launch(server_name=args.host, server_port=args.port,
               share=args.share, show_error=False)


if __name__ == '__main__':
    main()
