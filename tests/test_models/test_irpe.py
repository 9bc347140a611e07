"""IRPE: bucket ids and attention against a direct evaluation of docs/method.md section 2."""
import itertools
import math

import pytest
import torch

from mlic.models.layers import (ImageRPE, get_bucket_ids_2d, irpe_attention,
                                piecewise_index)


def g_ref(x, r):
    """The bucket function g of docs/method.md section 2 in plain Python
    (round() is half-to-even, like torch)."""
    alpha, beta, gamma = r, 2 * r, 8 * r
    if abs(x) <= alpha:
        return int(round(x))
    y = round(alpha + math.log(abs(x) / alpha) / math.log(gamma / alpha) *
              (beta - alpha))
    return int(math.copysign(min(beta, y), x))


def buckets_ref(method, h, w, r):
    """Per (i, j) bucket ids (a list of one or two L x L lists)."""
    shift = int(2 * r)
    side = 2 * shift + 1
    pos = [(i // w, i % w) for i in range(h * w)]
    out_a, out_b = [], []
    for (ri, ci) in pos:
        row_a, row_b = [], []
        for (rj, cj) in pos:
            dr, dc = ri - rj, ci - cj
            if method == 'product':
                row_a.append((g_ref(dr, r) + shift) * side + g_ref(dc, r) +
                             shift)
            elif method == 'cross':
                row_a.append(g_ref(dr, r) + shift)
                row_b.append(g_ref(dc, r) + shift + side)
            elif method == 'euc':
                row_a.append(g_ref(round(math.sqrt(dr * dr + dc * dc)), r) +
                             shift)
            else:
                row_a.append(g_ref(dr * dr + dc * dc, r) + shift)
        out_a.append(row_a)
        out_b.append(row_b)
    return [torch.tensor(out_a)] + ([torch.tensor(out_b)]
                                    if method == 'cross' else [])


def test_spec_bucket_matrix_2x3():
    ids, num = get_bucket_ids_2d('product', 2, 3, 1.9)
    assert num == 49
    assert ids.tolist() == [[24, 23, 22, 17, 16, 15], [25, 24, 23, 18, 17, 16],
                            [26, 25, 24, 19, 18, 17], [31, 30, 29, 24, 23, 22],
                            [32, 31, 30, 25, 24, 23], [33, 32, 31, 26, 25, 24]]


def test_one_dimensional_offset_maps():
    x = torch.arange(0, 15)
    got19 = piecewise_index(x, 1.9, 3.8, 15.2).tolist()
    assert got19 == [0, 1, 2, 2] + [3] * 11
    got20 = piecewise_index(x, 2.0, 4.0, 16.0).tolist()
    assert got20 == [0, 1, 2, 2] + [3] * 6 + [4] * 5
    assert piecewise_index(-x, 1.9, 3.8, 15.2).tolist() == [-v for v in got19]


@pytest.mark.parametrize('method', ['product', 'cross', 'euc', 'quant'])
@pytest.mark.parametrize('hw', [(3, 3), (2, 3), (5, 4), (14, 14)])
@pytest.mark.parametrize('ratio', [1.9, 2.0, 0.7])
def test_bucket_ids_match_spec(method, hw, ratio):
    ids, num = get_bucket_ids_2d(method, *hw, ratio)
    ref = buckets_ref(method, *hw, ratio)
    if method == 'cross':
        assert torch.equal(ids[0], ref[0])
        assert torch.equal(ids[1] + num, ref[1])
    else:
        assert torch.equal(ids, ref[0])
    side = 2 * int(2 * ratio) + 1
    assert num == (side * side if method == 'product' else side)
    for t in (ids if method == 'cross' else [ids]):
        assert 0 <= t.min() and t.max() < num


def test_bucket_cache_never_reuses_a_stale_grid():
    a, _ = get_bucket_ids_2d('product', 3, 4)
    b, _ = get_bucket_ids_2d('product', 4, 3)
    assert a.shape == b.shape == (12, 12) and not torch.equal(a, b)
    assert get_bucket_ids_2d('product', 3, 4)[0] is a  # cached
    c, _ = get_bucket_ids_2d('product', 3, 4, ratio=2.0)
    assert c.max() > a.max()


def attention_ref(q, k, v, rpe, h, w):
    """Dense evaluation: rK[b(i,j)] etc. materialised per (i, j)."""
    s = q.shape[-1]**-0.5
    sets = buckets_ref(rpe.method, h, w, rpe.ratio)
    heads = q.shape[1]

    def table(name):
        t = getattr(rpe, f'table_{name}')
        return t.expand(heads, *t.shape[1:])

    def lookup(name, ids):  # -> (heads, L, L[, d])
        return sum(table(name)[:, i] for i in ids)

    e = s * torch.einsum('bhid,bhjd->bhij', q, k)
    if 'k' in rpe.on:
        if rpe.mode == 'contextual':
            e = e + s * torch.einsum('bhid,hijd->bhij', q, lookup('k', sets))
        else:
            e = e + lookup('k', sets)[None]
    if 'q' in rpe.on:
        ids_t = [i.t() for i in sets]  # b(j, i)
        if rpe.mode == 'contextual':
            e = e + s * torch.einsum('bhjd,hijd->bhij', k, lookup('q', ids_t))
        else:
            e = e + lookup('q', ids_t)[None]
    a = e.softmax(-1)
    z = torch.einsum('bhij,bhjd->bhid', a, v)
    if 'v' in rpe.on:
        z = z + torch.einsum('bhij,hijd->bhid', a, lookup('v', sets))
    return z


def loop_ref(q, k, v, rpe, h, w):
    """The formulas of docs/method.md section 2 with explicit loops over (i, j)."""
    s = q.shape[-1]**-0.5
    sets = buckets_ref(rpe.method, h, w, rpe.ratio)
    bsz, heads, length, _ = q.shape
    out = torch.zeros_like(q)

    def tab(name, hd, idx_list):
        t = getattr(rpe, f'table_{name}')
        t = t[0] if t.shape[0] == 1 else t[hd]
        return sum(t[i] for i in idx_list)

    for b, hd, i in itertools.product(range(bsz), range(heads), range(length)):
        e = []
        for j in range(length):
            val = s * q[b, hd, i] @ k[b, hd, j]
            bij = [ids[i, j] for ids in sets]
            bji = [ids[j, i] for ids in sets]
            if 'k' in rpe.on:
                val = val + (s * q[b, hd, i] @ tab('k', hd, bij) if rpe.mode
                             == 'contextual' else tab('k', hd, bij))
            if 'q' in rpe.on:
                val = val + (s * k[b, hd, j] @ tab('q', hd, bji) if rpe.mode
                             == 'contextual' else tab('q', hd, bji))
            e.append(val)
        a = torch.stack(e).softmax(0)
        for j in range(length):
            term = v[b, hd, j]
            if 'v' in rpe.on:
                term = term + tab('v', hd, [ids[i, j] for ids in sets])
            out[b, hd, i] = out[b, hd, i] + a[j] * term
    return out


def _inputs(h, w, heads=2, d=4, batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, h * w, d, generator=gen,
                        dtype=torch.float64, requires_grad=True)
            for _ in range(3)]


def _rpe(method, mode, on, shared, heads=2, d=4, ratio=1.9):
    torch.manual_seed(1)
    rpe = ImageRPE(heads, d, method=method, mode=mode, ratio=ratio,
                   shared_head=shared, on=on).double()
    for p in rpe.parameters():  # larger than the init so the terms matter
        p.data.normal_(0, 0.5)
    return rpe


def _grads(out, tensors, seed=3):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    return torch.autograd.grad((out * weight).sum(), tensors)


CASES = [(m, mode, on, shared)
         for m in ('product', 'cross', 'euc', 'quant')
         for mode, ons in (('contextual', ('q', 'k', 'v', 'qk', 'qkv')),
                           ('bias', ('k', 'q', 'qk')))
         for on in ons for shared in (True, False)]


@pytest.mark.parametrize('method,mode,on,shared', CASES)
@pytest.mark.parametrize('hw', [(3, 3), (2, 3), (5, 4)])
def test_attention_equals_loops_and_dense(method, mode, on, shared, hw):
    h, w = hw
    q, k, v = _inputs(h, w)
    rpe = _rpe(method, mode, on, shared)
    out = irpe_attention(q, k, v, rpe, h, w)
    dense = attention_ref(q, k, v, rpe, h, w)
    tensors = [q, k, v] + list(rpe.parameters())
    g_out, g_dense = _grads(out, tensors), _grads(dense, tensors)
    torch.testing.assert_close(out, dense, rtol=0, atol=1e-10)
    for a, b in zip(g_out, g_dense):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    if hw == (2, 3) and shared:  # the explicit double loop, on a subset
        loops = loop_ref(q, k, v, rpe, h, w)
        torch.testing.assert_close(out, loops, rtol=0, atol=1e-10)
        for a, b in zip(g_out, _grads(loops, tensors)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize('method', ['product', 'cross', 'euc', 'quant'])
@pytest.mark.parametrize('shared', [True, False])
def test_attention_14x14(method, shared):
    q, k, v = _inputs(14, 14, heads=2, d=3, batch=1)
    rpe = _rpe(method, 'contextual', 'qkv', shared, d=3)
    out = irpe_attention(q, k, v, rpe, 14, 14)
    dense = attention_ref(q, k, v, rpe, 14, 14)
    torch.testing.assert_close(out, dense, rtol=0, atol=1e-10)
    tensors = [q, k, v] + list(rpe.parameters())
    for a, b in zip(_grads(out, tensors), _grads(dense, tensors)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_plain_attention_and_dropout_placement():
    q, k, v = _inputs(3, 3)
    ref = torch.einsum('bhij,bhjd->bhid',
                       (torch.einsum('bhid,bhjd->bhij', q, k) / 2).softmax(-1),
                       v)
    torch.testing.assert_close(irpe_attention(q, k, v), ref)
    # Dropout hits a_ij before both value terms: with p -> 1 everything is
    # dropped, including the rV term.
    rpe = _rpe('product', 'contextual', 'qkv', True)
    torch.manual_seed(0)
    out = irpe_attention(q, k, v, rpe, 3, 3, dropout_p=0.999999)
    assert out.abs().max() < 1e-3


@pytest.mark.parametrize('dtype', [torch.bfloat16])
def test_autocast_softmax_in_fp32(dtype):
    q, k, v = [t.detach().float() for t in _inputs(4, 5, d=8)]
    rpe = ImageRPE(2, 8, on='qkv')
    with torch.autocast('cpu', dtype=dtype):
        out = irpe_attention(q.to(dtype), k.to(dtype), v.to(dtype), rpe, 4, 5)
    ref = irpe_attention(q, k, v, rpe, 4, 5)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_bucket_gather_and_scatter_run_in_float32(dtype):
    """Half-precision q, k and weights: the q/k gather (backward: an atomic
    scatter-add on GPUs) and the value scatter-add work in float32, and the
    table gradients equal the float32 computation's."""
    torch.manual_seed(0)
    rpe = ImageRPE(2, 8, on='qkv')
    q, k = torch.randn(2, 2, 20, 8), torch.randn(2, 2, 20, 8)
    attn = torch.rand(2, 2, 20, 20).softmax(-1)
    grads = {}
    for kind in (dtype, torch.float32):
        rpe.zero_grad()
        term = rpe.qk_term(q.to(kind), k.to(kind), 4, 5)
        value = rpe.value_term(attn.to(kind), 4, 5)
        assert term.dtype == torch.float32 and value.dtype == torch.float32
        (term.sum() + value.square().sum()).backward()
        grads[kind] = [t.grad.clone() for t in (rpe.table_q, rpe.table_k,
                                                rpe.table_v)]
    ref = rpe.qk_term(q.double(), k.double(), 4, 5)
    torch.testing.assert_close(rpe.qk_term(q.to(dtype), k.to(dtype), 4, 5)
                               .double(), ref, rtol=0.02, atol=0.02)
    for low, full in zip(grads[dtype], grads[torch.float32]):
        assert (low - full).norm() < 0.02 * full.norm()


@pytest.mark.parametrize('kwargs,match', [
    (dict(method='manhattan'), "unknown method 'manhattan'"),
    (dict(mode='additive'), "unknown mode 'additive'"),
    (dict(on='kx'), "on='kx'"),
    (dict(on=''), "on=''"),
    (dict(ratio=0), 'ratio=0 must be'),
    (dict(ratio=-1.0), 'ratio=-1.0 must be'),
    (dict(mode='bias', on='qkv'), "mode='bias' applies to q/k only"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageRPE(2, 4, **kwargs)
