"""PageRank on the chip (zerohero/graph.py, firmware/resident.py plan_iterate): the RTL's
fixed-point iteration against a naive one written here, bit for bit; the ranks against
NetworkX; the command line."""

import json
import math

import networkx as nx
import numpy as np
import pytest
import scipy.io
import scipy.sparse

from zerohero import model
from zerohero.cli import main
from zerohero.firmware.resident import golden_iterate
from zerohero.graph import pagerank, pagerank_layer
from zerohero.runtime import Runtime
from zerohero.spec.config import preset

CFG = preset("sim-small")


def graph(n=40, p=0.1, seed=3, dangling=3, weighted=True):
    G = nx.gnp_random_graph(n, p, seed=seed, directed=True)
    rng = np.random.default_rng(seed)
    for u, v in G.edges:
        G[u][v]["weight"] = float(rng.integers(1, 5)) if weighted else 1.0
    for k in range(dangling):                     # nodes with in-edges and no out-edges
        G.add_edge(k, n + k, weight=2.0)
    return G


def adjacency(G):
    return nx.to_scipy_sparse_array(G, nodelist=range(G.number_of_nodes()))


def naive_iteration(layer, x, iterations):
    """Python integers: y_j = clamp(((sum_i M_ji x_i) * m + 2**s // 2) // 2**s + z, lo, hi)."""
    M = scipy.sparse.csr_array(layer.A).toarray().astype(object)
    q = layer.requant
    x = [int(v) for v in x]
    for _ in range(iterations):
        acc = [sum(int(M[j, i]) * x[i] for i in range(len(x))) for j in range(len(x))]
        x = [min(max((a * int(q.mult) + (1 << q.shift) // 2) // (1 << q.shift) + int(q.zero),
                     q.lo), q.hi) for a in acc]
    return np.array(x)


@pytest.mark.parametrize("iterations", [1, 2, 5])
def test_the_chip_iterates_as_the_naive_fixed_point_iteration(sim, iterations):
    G = graph(n=20 if sim == "icarus" else 40)
    layer, S = pagerank_layer(CFG, adjacency(G))
    n = G.number_of_nodes()
    x = np.full(n, round(S / n))
    (xk, prev), st = Runtime(CFG, sim).iterate(layer, x, iterations)
    assert np.array_equal(xk, naive_iteration(layer, x, iterations))
    assert np.array_equal(prev, naive_iteration(layer, x, iterations - 1))
    gold = golden_iterate(layer, x, iterations, model.IntSemantics.from_config(CFG))
    assert np.array_equal(xk, gold[0])
    assert st["host_words_between_iterations"] == 0 and st["cycles_per_iteration"] > 0


@pytest.mark.parametrize("weighted", [True, False])
def test_the_ranks_are_networkx_s_within_the_quantization(weighted):
    G = graph(weighted=weighted)
    ref = nx.pagerank(G)
    ref = np.array([ref[i] for i in range(G.number_of_nodes())])
    ranks, st = pagerank(Runtime(CFG, "model"), adjacency(G))
    assert math.isclose(ranks.sum(), 1.0)
    assert st["converged"] and st["overflows"] == 0
    # 16-bit ranks: about 2**15 / 43 levels an average node; see docs/graphs.md.
    assert np.abs(ranks - ref).sum() < 2e-3
    assert list(np.argsort(-ranks)[:5]) == list(np.argsort(-ref)[:5])


def test_pagerank_on_the_command_line(tmp_path, capsys):
    G = graph(n=30)
    path = tmp_path / "g.mtx"
    scipy.io.mmwrite(path, adjacency(G))
    assert main(["graph", "pagerank", str(path), "--iters", "12", "--sim", "verilator",
                 "--json", "-q"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert len(r["pagerank"]) == 33 and math.isclose(sum(r["pagerank"]), 1.0)
    assert r["iterations"] == 12 and r["host_words_between_iterations"] == 0
    assert r["cycles_per_iteration"] > 0 and r["programs"] == 1


@pytest.mark.parametrize("text, message", [
    ("%%MatrixMarket matrix coordinate real general\n2 3 1\n1 2 1.0\n", "must be square"),
    ("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 2 -1.0\n", "non-negative"),
])
def test_bad_graphs_are_one_line_naming_the_file(tmp_path, capsys, text, message):
    path = tmp_path / "g.mtx"
    path.write_text(text)
    assert main(["graph", "pagerank", str(path), "--sim", "model", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "g.mtx" in err and message in err


def test_a_graph_too_large_for_the_value_width_is_refused():
    with pytest.raises(ValueError, match=r"40 nodes are too many for 8-bit values"):
        pagerank_layer(preset("icebreaker"), adjacency(graph(n=37)))


def test_iterations_are_checked():
    with pytest.raises(ValueError, match="at least 1"):
        pagerank(Runtime(CFG, "model"), adjacency(graph()), iters=0)
