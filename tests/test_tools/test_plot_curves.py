"""plot_curves.py: training curves from work dirs (every launch of a
resumed run), the numbers checked against the logs written here."""
import csv
import json

import pytest

from conftest import load_tool
from mlic.visualization.run_logs import NoRunLogError, read_run


def _launch(work, stamp, train, val):
    d = work / stamp / 'vis_data'
    d.mkdir(parents=True)
    with open(d / 'scalars.json', 'w') as f:
        for row in train + val:
            f.write(json.dumps(row) + '\n')
        f.write('{"loss": 1.0, "epo')  # a line cut by a kill


def _run(work, ema=False):
    # launch 1: epochs 1-2 (two logged iterations each), killed in epoch 3
    train = [dict(loss=2.0 - 0.1 * s, lr=0.001 * s, time=0.5, epoch=1 + s //
                  3, iter=s, step=s) for s in (1, 2, 3, 4, 5)]
    key = 'raw/mAP' if ema else 'mAP'
    val = [dict(mAP=10.0 * e, step=e, time=0.1, **(
        {key: 10.0 * e, 'ema/mAP': 11.0 * e} if ema else {}))
        for e in (1, 2)]
    _launch(work, '20260101_000000', train, val)
    # launch 2 (--resume): epoch 3 again from its start, then epoch 3 val
    train = [dict(loss=0.5, lr=0.004, time=0.3, epoch=3, iter=6, step=6)]
    val = [dict(mAP=35.0, step=3, **({key: 35.0, 'ema/mAP': 36.0}
                                     if ema else {}))]
    _launch(work, '20260101_010000', train, val)


def test_read_run_merges_launches(tmp_path):
    _run(tmp_path / 'a')
    run = read_run(str(tmp_path / 'a'))
    assert run['epochs'] == [1, 2, 3]
    # epoch 1: steps 1, 2; epoch 2: steps 3, 4, 5; epoch 3: step 6
    assert run['loss'] == pytest.approx([1.85, 1.6, 0.5])
    assert run['lr'] == pytest.approx([0.002, 0.005, 0.004])
    assert run['val']['mAP'] == {1: 10.0, 2: 20.0, 3: 35.0}
    assert run['step_s'] == pytest.approx((0.5 * 5 + 0.3) / 6)
    with pytest.raises(NoRunLogError, match='is it a work dir'):
        read_run(str(tmp_path))


def test_plot_curves_two_runs(tmp_path, capsys):
    _run(tmp_path / 'a')
    _run(tmp_path / 'b', ema=True)
    out = tmp_path / 'c.png'
    load_tool('analysis_tools/plot_curves').main(
        [str(tmp_path / 'a'), str(tmp_path / 'b'), '--names', 'plain',
         'with EMA', '--out', str(out)])
    text = capsys.readouterr().out
    assert 'plain: 3 epochs, best val mAP 35.00 at epoch 3' in text
    assert out.stat().st_size > 10000
    rows = list(csv.DictReader(open(tmp_path / 'c.csv')))
    assert [(r['run'], r['epoch']) for r in rows][:4] == [
        ('plain', '1'), ('plain', '2'), ('plain', '3'), ('with EMA', '1')]
    assert rows[5]['ema/mAP'] == '36.0000' and rows[2]['ema/mAP'] == ''
    with pytest.raises(SystemExit):
        load_tool('analysis_tools/plot_curves').main(
            [str(tmp_path / 'a'), '--names', 'x', 'y', '--out', str(out)])
