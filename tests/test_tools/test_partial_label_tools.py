"""The tools on partly labelled data: label_stats.py counts the three
states per class and warns about classes it cannot learn from."""
import cv2
import numpy as np

from conftest import load_tool

PARTIAL = ('image,labels,negatives,ignored\n'
           'a/1.jpg,cat,dog bike,\n'      # cat +, dog bike -, person ?
           'a/2.jpg,,,\n'                  # nothing known
           'b/3.jpg,person,cat,bike\n')    # bike ignored, dog ?


def _config(tmp_path):
    for name in ('a/1.jpg', 'a/2.jpg', 'b/3.jpg'):
        (tmp_path / 'imgs' / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / 'imgs' / name), np.zeros((8, 8, 3),
                                                            np.uint8))
    (tmp_path / 'train.csv').write_text(PARTIAL)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "train_dataloader = dict(dataset=dict(type='CsvMultiLabel', "
        f"ann_file=r'{tmp_path / 'train.csv'}', "
        f"data_prefix=r'{tmp_path / 'imgs'}', "
        "classes=['bike', 'cat', 'dog', 'person'], unlisted='unknown', "
        "pipeline=[]))\n")
    return cfg


def test_label_stats_counts_three_states(tmp_path, capsys):
    cfg = _config(tmp_path)
    out = tmp_path / 'stats'
    result = load_tool('analysis_tools/label_stats').main(
        [str(cfg), '--split', 'train', '--out-dir', str(out)])
    states = {k: v.tolist() for k, v in result['states'].items()}
    assert states == dict(positives=[0, 1, 0, 1], negatives=[1, 1, 1, 0],
                          unknown=[1, 1, 2, 2], ignored=[1, 0, 0, 0])
    assert result['warnings'] == [
        "warning: 2 class(es) with no positive: ['bike', 'dog']",
        "warning: 1 class(es) with no known negative: ['person']"]
    rows = (out / 'label_states.csv').read_text().splitlines()
    assert rows[0] == 'class,positives,negatives,unknown,ignored'
    assert rows[1] == 'bike,0,1,1,1'
    printed = capsys.readouterr().out
    assert '2 positives, 3 negatives, 6 unknown, 1 ignored' in printed


def test_the_grid_script_trains_the_demo_config(tmp_path):
    """tools/benchmarks/partial_labels.py runs one row of its grid (the
    demo's partial-label config on a tiny copy of the data) and records
    its command and final metrics."""
    import json
    from conftest import REPO
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(
        f"_base_ = [r'{REPO}/configs/partial_labels/shapes_demo_hidden.py']\n"
        "n = dict(train=16, val=8)\n"
        "train_dataloader = dict(batch_size=8, num_workers=0, "
        "persistent_workers=False, dataset=dict(dataset=dict("
        "num_images=n, image_size=32)))\n"
        "val_dataloader = dict(num_workers=0, persistent_workers=False, "
        "dataset=dict(num_images=n, image_size=32))\n"
        "test_dataloader = val_dataloader\n")
    tool = load_tool('benchmarks/partial_labels')
    tool.main(['--work-dir', str(tmp_path / 'grid'), '--config', str(cfg),
               '--epochs', '1', '--only', 'single_wan_e1_s0'])
    results = json.loads((tmp_path / 'grid' / 'results.json').read_text())
    row = results['single_wan_e1_s0']
    assert row['status'] == 'done' and row['final']['epoch'] == 1
    assert 0 <= row['final']['mAP'] <= 100
    assert 'train_dataloader.dataset.mode=single_positive' in row['command']
    assert 'model.head.loss.negative_weight=wan' in row['command']
    assert list(results) == ['single_wan_e1_s0']
