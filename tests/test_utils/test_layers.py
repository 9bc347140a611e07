"""The package's layers import downwards only: no import circle, and at
most one import from a lower layer back up to a higher one.

Layers, lowest first (a module may import its own layer and those below):

0. the ground floor: ``fileio``, ``registry``, ``upstream``, ``utils``,
   ``structures``, ``version``;
1. the method's parts: ``datasets``, ``models``, ``evaluation``;
2. running them: ``engine``, ``visualization``, ``deployment``,
   ``benchmarking``;
3. the user's entry points: ``apis``.

Read from the source (``ast``): every ``import`` counts, at module level or
inside a function, and importing ``a.b.c`` runs ``a.b`` first unless the
importing module is inside it already.
"""
import ast
import collections
import os
import os.path as osp

from conftest import REPO

LAYERS = {
    'fileio': 0, 'registry': 0, 'upstream': 0, 'utils': 0, 'structures': 0,
    'version': 0, 'datasets': 1, 'models': 1, 'evaluation': 1, 'engine': 2,
    'visualization': 2, 'deployment': 2, 'benchmarking': 2, 'apis': 3,
}
# the one import up allowed: none today (the budget stays one)
MAX_IMPORTS_UP = 1


def _modules():
    mods = {}
    for folder, _, files in os.walk(osp.join(REPO, 'mlic')):
        for name in files:
            if name.endswith('.py'):
                path = osp.join(folder, name)
                mod = osp.relpath(path, REPO)[:-3].replace(os.sep, '.')
                mods[mod[:-len('.__init__')] if mod.endswith('.__init__')
                     else mod] = path
    return mods


def _targets(mod, node, is_pkg, mods):
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ''
        if node.level:
            parts = mod.split('.')[:None if is_pkg else -1]
            parts = parts[:len(parts) - node.level + 1]
            base = '.'.join(parts + ([base] if base else []))
        names = [f'{base}.{a.name}' if f'{base}.{a.name}' in mods else base
                 for a in node.names]
    out = set()
    for name in names:
        if name.split('.')[0] != 'mlic':
            continue
        while name not in mods and '.' in name:
            name = name.rsplit('.', 1)[0]
        parts = name.split('.')
        # importing a.b.c runs the packages a.b and a.b.c on the way (a
        # package the importing module is inside of is running already)
        mine = mod.split('.')
        out.add(name)
        out.update('.'.join(parts[:k]) for k in range(2, len(parts))
                   if parts[:k] != mine[:k])
    out.discard(mod)
    return out & set(mods)


def import_graph():
    mods = _modules()
    graph = collections.defaultdict(set)
    for mod, path in mods.items():
        tree = ast.parse(open(path, encoding='utf-8').read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[mod] |= _targets(mod, node, path.endswith(
                    '__init__.py'), mods)
    return mods, graph


def _cycles(nodes, graph):
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def _layer(mod):
    parts = mod.split('.')
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_no_import_circle():
    mods, graph = import_graph()
    assert _cycles(mods, graph) == []


def test_layers_import_downwards():
    mods, graph = import_graph()
    unknown = sorted({m.split('.')[1] for m in mods if '.' in m
                      and _layer(m) is None})
    assert unknown == [], f'give {unknown} a layer in this test'
    up = sorted((m, t) for m, ts in graph.items() for t in ts
                if _layer(m) is not None and _layer(t) is not None
                and _layer(t) > _layer(m))
    assert len(up) <= MAX_IMPORTS_UP, up


def test_the_checks_see_a_circle_and_an_import_up():
    """The graph reader itself: a made-up circle and an upward edge."""
    graph = collections.defaultdict(set, {'mlic.a': {'mlic.b'},
                                          'mlic.b': {'mlic.a'}})
    assert _cycles(['mlic.a', 'mlic.b'], graph) == [['mlic.a', 'mlic.b']]
    mods, graph = import_graph()
    assert 'mlic.fileio.atomic' in graph['mlic.fileio']
    assert 'mlic.engine' in graph['mlic.apis.inferencer']
    assert _layer('mlic.utils.cli') == 0 and _layer('mlic.apis') == 3
