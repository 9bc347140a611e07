"""A web demo of a trained model (Gradio): ``tools/visualization/web_demo.py``.

Drop, paste or pick an image; the page shows the labels above threshold
with their scores as bars, and each label's attention map (the decoder's
cross-attention, as ``vis_attention.py`` draws it) chosen from a list. The
threshold slider re-labels from the scores already computed: the model
runs once per image. An image the inferencer refuses (not an image, too
many pixels) shows its message on the page.

The same app answers Gradio's API: ``/predict`` takes an image and returns
``{"labels": [...], "scores": {class: probability}}`` with the labels above
the thresholds the app started with (see docs/visualization_and_deployment.md
for a ``gradio_client`` example).
"""
import html
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np

from mlic.utils.optional import require

GRADIO_HINT = ('the web demo needs Gradio: pip install -e ".[demo]" (or pip '
               'install gradio)')


def require_gradio():
    """``gradio``, or an ImportError saying what to install."""
    return require('gradio', hint=GRADIO_HINT)


def labels_above(scores: np.ndarray, classes: Sequence[str],
                 thresholds: np.ndarray) -> List[tuple]:
    """(class, score) above each class's threshold, best first."""
    order = np.argsort(-scores, kind='stable')
    return [(classes[c], float(scores[c])) for c in order
            if scores[c] >= thresholds[c]]


def labels_html(chosen: List[tuple], note: str = '') -> str:
    """The labels as bars: one ``div.mlic-label`` per label (its name and
    score in ``data-label`` / ``data-score``, read by the browser tests)."""
    if not chosen:
        rows = '<p class="mlic-none">no label above the threshold</p>'
    else:
        rows = ''.join(
            f'<div class="mlic-label" data-label="{html.escape(name)}" '
            f'data-score="{score:.6f}" style="margin:4px 0">'
            '<span style="display:inline-block;width:9em">'
            f'{html.escape(name)}</span>'
            f'<span style="display:inline-block;width:{score * 40:.1f}%;'
            'height:0.9em;background:#3b7dd8;vertical-align:middle">'
            f'</span> {score:.3f}</div>' for name, score in chosen)
    extra = f'<p class="mlic-note">{html.escape(note)}</p>' if note else ''
    return f'<div class="mlic-labels">{rows}{extra}</div>'


def error_html(message: str) -> str:
    return ('<div class="mlic-error" style="color:#b2182b">'
            f'{html.escape(message)}</div>')


class DemoModel:
    """What the app computes, apart from Gradio (tested without a
    browser): scores and attention maps of an image, labels at a
    threshold, the overlay of one label."""

    def __init__(self, infer):
        self.infer = infer
        self.classes = list(infer.classes)
        self.thresholds = np.asarray(infer.thresholds, dtype=np.float64)

    def analyse(self, path: str) -> dict:
        """``scores``, ``maps`` and ``original`` of the image at ``path``
        (raises the inferencer's error for an image it refuses)."""
        out = self.infer.attention(path)
        return dict(scores=out['scores'], maps=out['maps'],
                    original=out['original'])

    def thresholds_for(self, threshold: Optional[float]) -> np.ndarray:
        """The per-class thresholds the app started with (``None``) or one
        threshold for every class."""
        if threshold is None:
            return self.thresholds
        return np.full(len(self.classes), float(threshold))

    def labels(self, scores, threshold: Optional[float] = None):
        return labels_above(np.asarray(scores), self.classes,
                            self.thresholds_for(threshold))

    def overlay(self, result: dict, label: str) -> np.ndarray:
        from mlic.visualization import attention_overlay
        k = self.classes.index(label)
        return attention_overlay(result['original'], result['maps'][k])

    def predict(self, path: str) -> dict:
        """The API's answer: labels above the app's thresholds and every
        class's probability."""
        scores = self.infer([path])[0]['scores']
        vector = np.array([scores[c] for c in self.classes])
        return dict(labels=[n for n, _ in self.labels(vector)],
                    scores=scores)


def build_app(infer, examples: Sequence[str] = (), title: str = ''):
    """The Gradio Blocks app of :class:`DemoModel` over ``infer``."""
    gr = require_gradio()
    model = DemoModel(infer)
    uniform = float(model.thresholds[0]) if np.all(
        model.thresholds == model.thresholds[0]) else None

    def analyse(path, threshold, per_class):
        if not path:
            return None, error_html('drop, paste or pick an image'), \
                gr.update(choices=[], value=None), None
        try:
            result = model.analyse(path)
        except Exception as err:  # the inferencer's message, no traceback
            message = f'{osp.basename(str(path))}: {type(err).__name__}: ' \
                f'{err}'
            return None, error_html(message), gr.update(
                choices=[], value=None), None
        return (result, ) + relabel(result, threshold, per_class)

    def relabel(result, threshold, per_class):
        if result is None:
            return (gr.update(), gr.update(), gr.update())
        thr = None if per_class else threshold
        chosen = model.labels(result['scores'], thr)
        note = ('per-class thresholds' if thr is None else
                f'threshold {threshold:.2f}')
        names = [n for n, _ in chosen] + [
            c for c in model.classes if c not in {n for n, _ in chosen}]
        first = names[0]
        return (labels_html(chosen, note),
                gr.update(choices=names, value=first),
                model.overlay(result, first))

    def show_map(result, label):
        if result is None or not label:
            return None
        return model.overlay(result, label)

    def api_predict(path):
        return model.predict(path)

    slider_default = uniform if uniform is not None else 0.5
    per_class_default = uniform is None
    with gr.Blocks(title=title or 'mlic web demo') as app:
        gr.Markdown(f'## {html.escape(title or "mlic: multi-label tagging")}'
                    f'\n{len(model.classes)} classes. Drop, paste or pick '
                    'an image; move the threshold to re-label without '
                    'running the model again.')
        state = gr.State(None)
        with gr.Row():
            with gr.Column():
                image = gr.Image(type='filepath', label='image',
                                 sources=['upload', 'clipboard'],
                                 elem_id='mlic-image')
                upload = gr.File(label='or upload a file',
                                 elem_id='mlic-file')
                if examples:
                    gr.Examples(examples=[[e] for e in examples],
                                inputs=[image], label='examples')
            with gr.Column():
                threshold = gr.Slider(0.0, 1.0, value=slider_default,
                                      step=0.01, label='threshold',
                                      elem_id='mlic-threshold')
                per_class = gr.Checkbox(
                    value=per_class_default,
                    label='per-class thresholds (--thr-file)',
                    visible=uniform is None, elem_id='mlic-per-class')
                labels = gr.HTML(elem_id='mlic-labels')
                which = gr.Dropdown(choices=[], label='attention map of',
                                    elem_id='mlic-which')
                overlay = gr.Image(label='attention', interactive=False,
                                   elem_id='mlic-overlay')
        outputs = [state, labels, which, overlay]
        controls = [threshold, per_class]
        image.change(analyse, inputs=[image] + controls, outputs=outputs,
                     api_name=False)
        upload.change(analyse, inputs=[upload] + controls, outputs=outputs,
                      api_name=False)
        for control in (threshold, per_class):
            control.change(relabel, inputs=[state, threshold, per_class],
                           outputs=[labels, which, overlay], api_name=False)
        which.change(show_map, inputs=[state, which], outputs=[overlay],
                     api_name=False)
        api_in = gr.Image(type='filepath', visible=False)
        api_out = gr.JSON(visible=False)
        api_in.change(api_predict, inputs=[api_in], outputs=[api_out],
                      api_name='predict')
    return app


__all__ = ['build_app', 'DemoModel', 'labels_above', 'labels_html',
           'require_gradio', 'GRADIO_HINT']
