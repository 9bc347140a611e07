"""Tagging on Ray Data (tools/infer.py --engine ray) as on a cluster: two
Ray nodes on this machine (a head and a second ``ray start --address``),
started and stopped here; a node and the model workers killed while
tagging; the driver killed and the run resumed with another number of
workers. Every result is compared with infer.py's in one process."""
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO, load_tool, run_tool, write_random_images

ray = pytest.importorskip('ray', reason='pip install -e ".[ray]"')

pytestmark = pytest.mark.slow  # integration: pytest -m 'not slow' skips it

DEMO = osp.join(REPO, 'configs', 'q2l_irpe', 'shapes_demo.py')
RAY_BIN = osp.join(osp.dirname(sys.executable), 'ray')
# the nodes and drivers of these tests: no usage report, no token (the
# cluster listens on this machine only)
RAY_ENV = dict(RAY_USAGE_STATS_ENABLED='0', RAY_AUTH_MODE='disabled')
NUM_IMAGES = 200


def _port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Cluster:
    """Ray nodes on this machine, each a ``ray start --block`` in its own
    process group (killed as a whole: the node and its workers)."""

    def __init__(self, log_dir):
        self.port, self.nodes, self.log_dir = _port(), [], str(log_dir)
        self.env = dict(os.environ, **RAY_ENV)
        self.address = f'127.0.0.1:{self.port}'

    def start_node(self, cpus, head=False):
        args = [RAY_BIN, 'start', '--block', f'--num-cpus={cpus}',
                '--num-gpus=0', '--disable-usage-stats',
                '--node-ip-address=127.0.0.1']
        args += (['--head', f'--port={self.port}',
                  '--include-dashboard=false']
                 if head else [f'--address={self.address}'])
        log = open(osp.join(self.log_dir, f'node{len(self.nodes)}.log'), 'w')
        proc = subprocess.Popen(args, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.nodes.append(proc)
        self.wait_for(len(self.nodes))
        return proc

    def alive_nodes(self):
        try:
            out = subprocess.run(
                [sys.executable, '-c',
                 'import ray; ray.init(address=%r, log_to_driver=False); '
                 'print(sum(n["Alive"] for n in ray.nodes()))'
                 % self.address, ],
                env=self.env, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return 0
        return int(out.stdout.strip().splitlines()[-1]) \
            if out.returncode == 0 and out.stdout.strip() else 0

    def wait_for(self, count, timeout=90):
        end = time.time() + timeout
        while time.time() < end:
            if self.alive_nodes() >= count:
                return
            time.sleep(1)
        raise AssertionError(f'{count} Ray nodes did not come up; see '
                             f'{self.log_dir}')

    @staticmethod
    def kill(proc, sig=signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self):
        for proc in reversed(self.nodes):
            self.kill(proc, signal.SIGTERM)
        for proc in reversed(self.nodes):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
            self.kill(proc)  # what SIGTERM left


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """The demo model (random weights) and NUM_IMAGES images + one
    unreadable file; the reference: infer.py in one process, one thread
    (as each Ray model worker computes), batch 8."""
    from mlic.apis import MultiLabelInferencer
    root = tmp_path_factory.mktemp('ray_demo')
    torch.manual_seed(0)
    infer = MultiLabelInferencer(DEMO, device='cpu')
    ckpt = str(root / 'demo.pth')
    torch.save(dict(state_dict=infer.model.state_dict()), ckpt)
    images = write_random_images(
        root / 'images', [f'{k:04d}.jpg' for k in range(NUM_IMAGES)],
        (48, 64), seed=3)
    with open(osp.join(images, '0100_bad.jpg'), 'w') as f:
        f.write('not an image')
    ref = str(root / 'ref.jsonl')
    run_tool(['tools/infer.py', DEMO, ckpt, images, '--device', 'cpu',
              '--out', ref, '--batch-size', '8'], cwd=root,
             env=dict(OMP_NUM_THREADS='1'))
    with open(ref, 'rb') as f:
        return dict(root=root, ckpt=ckpt, images=images, ref=f.read())


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp('ray_logs'))
    try:
        c.start_node(2, head=True)
        c.start_node(2)
        yield c
    finally:
        c.stop()


def _ray_infer(demo, out, extra, **popen):
    cmd = [sys.executable, osp.join(REPO, 'tools', 'infer.py'), DEMO,
           demo['ckpt'], demo['images'], '--engine', 'ray', '--out',
           str(out), '--batch-size', '8'] + extra
    env = dict(os.environ, **RAY_ENV)
    env['PYTHONPATH'] = os.pathsep.join([REPO, env.get('PYTHONPATH', '')])
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **popen)


def _lines(path):
    try:
        with open(path, 'rb') as f:
            return f.read().count(b'\n')
    except FileNotFoundError:
        return 0


def _wait_lines(proc, path, count, timeout=300):
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if _lines(path) >= count:
            return
        time.sleep(0.2)
    out = proc.stdout.read() if proc.poll() is not None else ''
    raise AssertionError(f'{path} did not reach {count} lines before the '
                         f'run ended (rc {proc.poll()}): {out[-3000:]}')


def _finish(proc, timeout=600):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-5000:]
    return out


def _check_result(demo, out, text, images=NUM_IMAGES, exact_lines=None):
    """Every image once, in input order, the bytes infer.py writes; after
    a resume (``exact_lines``: the lines written before it) the batches
    that follow start elsewhere than infer.py's, so their scores may move
    in the last float digits: the same images and labels, scores within
    1e-5."""
    with open(out, 'rb') as f:
        got = f.read()
    assert got.count(b'\n') == NUM_IMAGES
    if exact_lines is None:
        assert got == demo['ref']
    else:
        mine, ref = got.splitlines(), demo['ref'].splitlines()
        assert mine[:exact_lines] == ref[:exact_lines]
        for a, b in zip(mine[exact_lines:], ref[exact_lines:]):
            a, b = json.loads(a), json.loads(b)
            assert a['img_path'] == b['img_path']
            assert a['pred_labels'] == b['pred_labels']
            assert a['scores'] == pytest.approx(b['scores'], abs=1e-5)
    assert not osp.exists(f'{out}.partial')
    with open(f'{out}.skipped.tsv') as f:
        skipped = f.read().splitlines()
    assert skipped[0] == 'img_path\treason'
    assert len(skipped) == 2 and skipped[1].startswith(
        osp.join(demo['images'], '0100_bad.jpg') + '\tBadImageError')
    assert f'ray: {images} images, 1 skipped' in text


def test_parquet_from_the_cluster_equals_infer_py(demo, cluster, tmp_path):
    """--out x.parquet: the driver writes the actors' score arrays as
    columns (no dict per image); the table equals infer.py's Parquet in
    one process, with per-class thresholds from --thr."""
    pq = pytest.importorskip('pyarrow.parquet')
    ref = tmp_path / 'ref.parquet'
    run_tool(['tools/infer.py', DEMO, demo['ckpt'], demo['images'],
              '--device', 'cpu', '--out', str(ref), '--batch-size', '8',
              '--thr', '0.45'], cwd=tmp_path, env=dict(OMP_NUM_THREADS='1'))
    out = tmp_path / 'p.parquet'
    proc = _ray_infer(demo, out, ['--address', cluster.address,
                                  '--model-workers', '2', '--thr', '0.45'])
    text = _finish(proc)
    assert f'ray: {NUM_IMAGES} images, 1 skipped' in text
    got, want = pq.read_table(out), pq.read_table(ref)
    assert got.num_rows == NUM_IMAGES
    assert got.equals(want)
    assert sum(map(len, got.column('pred_labels').to_pylist())) > 0


def test_a_lost_node_and_killed_model_workers(demo, cluster, tmp_path):
    """A third node joins; while tagging, every model worker process is
    killed and the third node dies with everything on it: the run ends on
    the survivors with every image exactly once, the bytes infer.py writes
    (the JSONL path across nodes; a run without faults is the Parquet test
    above, kept to one Ray run each for the suite's time)."""
    third = cluster.start_node(2)
    out = tmp_path / 'p.jsonl'
    proc = _ray_infer(demo, out, ['--address', cluster.address,
                                  '--model-workers', '2'])
    _wait_lines(proc, f'{out}.partial', 40)
    killed = subprocess.run(['pkill', '-9', '-f', r'MapBatches\(Scorer\)'])
    cluster.kill(third)
    assert proc.poll() is None, 'the run ended before the faults'
    assert killed.returncode == 0, 'no model worker was running'
    _check_result(demo, out, _finish(proc))
    assert cluster.alive_nodes() == 2


def test_killed_driver_resumes_with_another_worker_count(demo, tmp_path):
    """A local Ray (no --address): the driver is killed mid-run; --resume
    with one model worker instead of two writes the rest; and a resume
    with other thresholds is refused, naming them."""
    out = tmp_path / 'p.jsonl'
    proc = _ray_infer(demo, out, ['--model-workers', '2'])
    _wait_lines(proc, f'{out}.partial', 60)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _lines(f'{out}.partial')
    assert 60 <= done < NUM_IMAGES and not osp.exists(out)
    refused = _ray_infer(demo, out, ['--resume', '--thr', '0.3'])
    text = refused.communicate(timeout=300)[0]
    assert refused.returncode != 0
    assert 'cannot resume' in text and 'thresholds' in text
    text = _finish(_ray_infer(demo, out, ['--resume', '--model-workers',
                                          '1']))
    assert f'--resume: {done} images already in' in text
    _check_result(demo, out, text, images=NUM_IMAGES - done,
                  exact_lines=done)


def test_without_ray_says_what_to_install(demo, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'ray', None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[ray\]"'):
        load_tool('infer').main([DEMO, demo['ckpt'], demo['images'],
                                 '--engine', 'ray', '--out',
                                 str(tmp_path / 'p.jsonl')])
    assert not (tmp_path / 'p.jsonl.partial').exists()
