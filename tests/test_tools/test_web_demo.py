"""The web demo (tools/visualization/web_demo.py): started on a free port,
driven in headless Chromium (Debian's, through Playwright), its labels
compared with infer.py's; a bad file shows the inferencer's message; the
threshold re-labels; the page's screenshot; Gradio's API from
gradio_client. The app's logic is also tested without a browser."""
import json
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, load_tool, web_demo_server, write_random_images

gr = pytest.importorskip('gradio', reason='pip install -e ".[demo]"')

CFG = osp.join(REPO, 'tests', 'data', 'tiny_q2l.py')
CHROMIUM = next((shutil.which(n) for n in ('chromium', 'chromium-browser',
                                           'google-chrome')
                 if shutil.which(n)), None)


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    from mlic.apis import MultiLabelInferencer
    root = tmp_path_factory.mktemp('web')
    torch.manual_seed(0)
    infer = MultiLabelInferencer(CFG, device='cpu')
    ckpt = str(root / 'm.pth')
    torch.save(dict(state_dict=infer.model.state_dict()), ckpt)
    images = write_random_images(root / 'im', ['a.jpg', 'b.jpg'], (60, 80),
                                 seed=5)
    bad = root / 'im' / 'bad.jpg'
    bad.write_text('this is not an image')
    ref = root / 'ref.jsonl'
    load_tool('infer').main([CFG, ckpt, osp.join(images, 'a.jpg'),
                             '--device', 'cpu', '--out', str(ref)])
    with open(ref) as f:
        return dict(root=root, ckpt=ckpt, images=images, bad=str(bad),
                    ref=json.loads(f.readline()))


def test_demo_model_labels_thresholds_and_overlay(model):
    from mlic.apis import MultiLabelInferencer
    from mlic.apis.web_demo import DemoModel, labels_html
    infer = MultiLabelInferencer(CFG, model['ckpt'], device='cpu',
                                 thresholds=0.5)
    demo = DemoModel(infer)
    result = demo.analyse(osp.join(model['images'], 'a.jpg'))
    ref = model['ref']
    scores = result['scores']
    np.testing.assert_allclose(scores, [ref['scores'][c]
                                        for c in demo.classes], atol=1e-5)
    assert [n for n, _ in demo.labels(scores)] == ref['pred_labels']
    high = demo.labels(scores, 0.6)
    assert [n for n, _ in high] == [n for n in ref['pred_labels']
                                    if ref['scores'][n] >= 0.6]
    assert all(a[1] >= b[1] for a, b in zip(high, high[1:]))
    over = demo.overlay(result, demo.classes[3])
    assert over.shape == result['original'].shape and over.dtype == np.uint8
    assert not np.array_equal(over, demo.overlay(result, demo.classes[4]))
    text = labels_html([('a<b', 0.5)])
    assert 'data-label="a&lt;b"' in text and 'a<b' not in text
    assert demo.predict(osp.join(model['images'], 'a.jpg'))['labels'] == \
        ref['pred_labels']


@pytest.fixture(scope='module')
def server(model):
    with web_demo_server(CFG, model['ckpt'], ['--thr', '0.5', '--examples',
                                              model['images']]) as url:
        yield url


@pytest.fixture
def page(server):
    if CHROMIUM is None:
        pytest.skip('no Chromium installed (apt install chromium)')
    sync_api = pytest.importorskip('playwright.sync_api',
                                   reason='pip install -e ".[tests]"')
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=['--no-sandbox'])
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.goto(server)
        page.wait_for_selector('#mlic-file')
        yield page
        browser.close()


def _upload(page, path):
    with page.expect_file_chooser() as chooser:
        page.locator('#mlic-file button.upload-container').click()
    chooser.value.set_files(path)


def test_browser_shows_infer_py_labels(model, page, tmp_path):
    _upload(page, osp.join(model['images'], 'a.jpg'))
    page.wait_for_selector('.mlic-label', timeout=60000)
    shown = [(e.get_attribute('data-label'),
              float(e.get_attribute('data-score')))
             for e in page.query_selector_all('.mlic-label')]
    ref = model['ref']
    assert [n for n, _ in shown] == ref['pred_labels']
    for (name, score), want in zip(shown, ref['pred_scores']):
        assert score == pytest.approx(want, abs=1e-4)
    # the attention map of the best label is drawn
    assert page.locator('#mlic-overlay img').count() == 1
    shot = tmp_path / 'page.png'
    page.screenshot(path=str(shot), full_page=True)
    import cv2
    img = cv2.imread(str(shot))
    assert img.shape[1] == 1280 and img.shape[0] >= 900
    assert shot.stat().st_size > 20000 and img.std() > 5  # not blank
    # the slider re-labels from the scores already computed
    number = page.locator('#mlic-threshold input[type=number]')
    number.fill('0.6')
    number.press('Enter')
    page.wait_for_selector('.mlic-note:has-text("threshold 0.60")',
                           timeout=20000)
    now = [e.get_attribute('data-label')
           for e in page.query_selector_all('.mlic-label')]
    assert now == [n for n in ref['pred_labels'] if ref['scores'][n] >= 0.6]


def test_browser_shows_the_message_for_a_bad_file(model, page):
    _upload(page, model['bad'])
    page.wait_for_selector('.mlic-error', timeout=60000)
    text = page.inner_text('.mlic-error')
    assert 'bad.jpg' in text and 'not a readable image' in text
    assert 'Traceback' not in page.content()
    assert page.query_selector_all('.mlic-label') == []


def test_api_from_gradio_client(model, server):
    client_mod = pytest.importorskip('gradio_client')
    client = client_mod.Client(server, verbose=False)
    out = client.predict(client_mod.handle_file(
        osp.join(model['images'], 'a.jpg')), api_name='/predict')
    assert out['labels'] == model['ref']['pred_labels']
    assert out['scores'] == pytest.approx(model['ref']['scores'], abs=1e-5)


def test_without_gradio_says_what_to_install(model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'gradio', None)
    with pytest.raises(SystemExit) as exit_:
        load_tool('visualization/web_demo').main([CFG, model['ckpt']])
    assert exit_.value.code == 2
    assert 'pip install -e ".[demo]"' in capsys.readouterr().err
