"""zerohero.nn: pruning, quantization, compilation, bad input, and bit-exact RTL runs of
compiled networks (Verilator: the digits network; Icarus: a tiny network)."""

import json
import os
from fractions import Fraction

import numpy as np
import pytest
from conftest import acc_config, unit_config

import zerohero
from zerohero import nn
from zerohero.cli import main
from zerohero.spec.config import preset
from zerohero.runtime import Runtime


def random_mlp(sizes, seed=0, bias=0.1):
    rng = np.random.default_rng(seed)
    return nn.MLP([rng.normal(0, 1 / np.sqrt(n), (n, m)) for n, m in zip(sizes[:-1], sizes[1:])],
                  [rng.normal(0, bias, m) for m in sizes[1:]])


@pytest.fixture(scope="module")
def digits():
    return nn.load_digits_split()


@pytest.fixture(scope="module")
def small_digits_net(digits):
    Xtr, ytr, _, _ = digits
    return nn.train((64, 32, 10), Xtr, ytr, epochs=30, seed=0)


# Pruning -----------------------------------------------------------------------------------

@pytest.mark.parametrize("s", [0.5, 0.8, 0.9])
def test_unstructured_pruning_is_exact_and_keeps_the_largest(s):
    net = random_mlp((24, 16, 8, 4))
    pruned, masks = nn.prune(net, s)
    for W, P, M in zip(net.weights, pruned.weights, masks):
        assert np.count_nonzero(P == 0) == round(s * W.size)
        assert np.array_equal(P, W * M)
        kept, gone = np.abs(W[M == 1]), np.abs(W[M == 0])
        assert kept.min() >= gone.max()
    assert np.array_equal(pruned.biases[0], net.biases[0])


def test_channel_pruning_removes_whole_channels_and_the_next_layers_inputs(digits):
    net = random_mlp((24, 16, 8, 4), seed=5)
    pruned, masks = nn.prune(net, 0.5, "channel")
    assert pruned.sizes == (24, 8, 4, 4) and all(k.all() for k in masks)
    # The kept channels are the largest by L2 norm, in their order, with their biases and
    # the next layer's rows; the classes are all kept.
    keep = np.sort(np.argsort(-np.linalg.norm(net.weights[0], axis=0))[:8])
    assert np.array_equal(pruned.weights[0], net.weights[0][:, keep])
    assert np.array_equal(pruned.biases[0], net.biases[0][keep])
    keep1 = np.sort(np.argsort(-np.linalg.norm(net.weights[1][keep], axis=0))[:4])
    assert np.array_equal(pruned.weights[1], net.weights[1][keep][:, keep1])
    assert np.array_equal(pruned.weights[2], net.weights[2][keep1])
    # Compiled: the sparsity counts the removed weights against the network as given, and
    # the golden inference stays the independent integer version's.
    Xtr, ytr, Xte, _ = digits
    small = nn.train((64, 32, 10), Xtr, ytr, epochs=10, seed=0)
    c = zerohero.compile(small, "sim-small", 0.5, "channel", finetune_epochs=2)
    assert c.float_model.sizes == (64, 16, 10) and [L.A.shape for L in c.layers] == [
        (16, 64 + c.layers[0].bias_rows), (10, 16 + c.layers[1].bias_rows)]
    assert c.sparsity == pytest.approx(1 - (64 * 16 + 16 * 10) / (64 * 32 + 32 * 10))
    assert np.array_equal(nn.golden_infer(c, Xte[:20]), numpy_integer_inference(c, Xte[:20]))


@pytest.mark.parametrize("n, m", [(2, 4), (1, 4), (3, 8)])
def test_nm_pruning_structure_along_the_inputs(n, m):
    net = random_mlp((24, 16, 8), seed=3)
    pruned, _ = nn.prune(net, pattern=f"{n}:{m}")
    for W, P in zip(net.weights, pruned.weights):
        for o in range(W.shape[1]):
            for g in range(0, W.shape[0], m):
                group, orig = P[g:g + m, o], W[g:g + m, o]
                assert np.count_nonzero(group) == n
                assert np.abs(orig[group != 0]).min() >= np.abs(orig[group == 0]).max()
    assert pruned.sparsity() == pytest.approx(1 - n / m)


def test_finetune_keeps_the_mask_fixed_and_recovers(digits):
    Xtr, ytr, Xte, yte = digits
    net = nn.train((64, 32, 10), Xtr, ytr, epochs=20)
    pruned, masks = nn.prune(net, 0.9)
    tuned = nn.finetune(pruned, masks, Xtr, ytr, epochs=5)
    for P, T, M in zip(pruned.weights, tuned.weights, masks):
        assert np.all(T[M == 0] == 0)
        assert not np.array_equal(T[M == 1], P[M == 1])
    train_acc = [np.mean(m.predict(Xtr) == ytr) for m in (pruned, tuned)]
    assert train_acc[1] > train_acc[0]
    assert nn.finetune(pruned, masks, Xtr, ytr, epochs=0).weights[0] is not pruned.weights[0]


# Quantization ------------------------------------------------------------------------------

def test_quantization_ranges_scales_and_error_bounds(digits, small_digits_net):
    Xtr, _, Xte, _ = digits
    cfg = preset("sim-small")
    c = nn.compile_network(small_digits_net, cfg, 0.5, finetune_epochs=0, calibration=Xtr)
    net = c.float_model
    for i, (L, W, b) in enumerate(zip(c.layers, net.weights, net.biases)):
        Wq = L.A[:, :W.shape[0]].T
        assert np.abs(L.A).max() <= cfg.value_max
        assert np.abs(Wq).max() == cfg.value_max                 # the scale uses the full range
        assert np.all(np.abs(Wq * L.w_scale - W) <= L.w_scale / 2 + 1e-12)
        assert np.array_equal(Wq == 0, W == 0)                   # pruned stay zero
        # bias: its columns times the constant amax, in accumulator units of w_scale * a_scale
        bias_acc = L.A[:, W.shape[0]:].sum(axis=1) * L.amax
        assert np.all(np.abs(bias_acc * L.w_scale * L.a_scale - b) <= L.w_scale * L.amax
                      * L.a_scale / 2 + 1e-9)
        # no partial sum can leave the accumulator
        assert L.amax * np.abs(L.A).sum(axis=1).max() <= cfg.acc_max
        assert 15 <= L.amax <= cfg.value_max
        assert L.relu == (i < len(c.layers) - 1)
    a = c.quantize_input(Xte)
    assert a.min() >= 0 and a.max() <= c.layers[0].amax
    # requantization multiplier approximates the scale ratio to 15 bits
    for L, nxt in zip(c.layers, c.layers[1:]):
        ratio = L.w_scale * L.a_scale / nxt.a_scale
        assert 1 << 14 <= L.mult < 1 << 15
        assert abs(L.mult / 2 ** L.shift - ratio) <= ratio * 2 ** -14


def test_channel_weight_scales_use_every_channels_full_range(digits, small_digits_net):
    Xtr, ytr, Xte, yte = digits
    c = zerohero.compile(small_digits_net, "sim-small", 0.5, finetune_epochs=0,
                         weight_scales="channel")
    t = zerohero.compile(small_digits_net, "sim-small", 0.5, finetune_epochs=0)
    hidden, last = c.layers[0], c.layers[-1]
    W = c.float_model.weights[0]
    Wq = hidden.A[:, :W.shape[0]]
    # A channel's scale covers its weights and its bias (the weight of the constant input
    # a_range), so the larger of the two uses the full range.
    b = c.float_model.biases[0]
    a_range = hidden.a_scale * hidden.amax
    top = np.maximum(np.abs(W).max(axis=0), np.abs(b) / a_range)
    assert np.allclose(hidden.w_scale, top / c.cfg.value_max)
    assert hidden.bias_rows == 1
    full = np.maximum(np.abs(Wq).max(axis=1), np.abs(hidden.A[:, W.shape[0]:]).max(axis=1))
    assert np.array_equal(full, np.full(W.shape[1], c.cfg.value_max))
    assert np.ndim(last.w_scale) == 0 and np.ndim(last.mult) == 0   # logits share one scale
    # One multiplier and shift a row, each approximating its own ratio to 15 bits.
    ratio = hidden.w_scale * hidden.a_scale / c.layers[1].a_scale
    assert hidden.mult.shape == (W.shape[1],) and np.all(hidden.mult >= 1 << 14)
    assert np.all(np.abs(hidden.mult / 2.0 ** hidden.shift - ratio) <= ratio * 2 ** -14)
    gold = nn.golden_infer(c, Xte)
    assert np.array_equal(gold, numpy_integer_inference(c, Xte))
    # Resident: the result stage's per-row tables give the same logits.
    got, _ = Runtime(c.cfg, "model").load(c).infer(Xte[:40])
    assert np.array_equal(got, gold[:40])
    # Finer weights: the hidden layer's dequantized weights are at least as close.
    err = lambda q: np.abs(q.layers[0].A[:, :W.shape[0]].T * q.layers[0].w_scale - W).mean()
    assert err(c) <= err(t)
    assert nn.accuracy(gold, yte) >= nn.accuracy(nn.golden_infer(t, Xte), yte) - 0.01


def test_requantize_rounds_half_up_and_clips():
    acc = [0, 1, 2, 3, 5, 6, 7, 100, 10 ** 12]
    got = nn.requantize(acc, 3, 2, 50)      # acc * 3/4
    want = [min(int(Fraction(a * 3, 4) + Fraction(1, 2)), 50) for a in acc]
    assert got.tolist() == want


def numpy_integer_inference(c, X):
    """An independent vectorized int64 version of the integer inference (no golden kernels)."""
    q = np.floor(np.abs(X) / c.in_scale + 0.5) * np.sign(X)       # ties away from zero
    a = np.clip(q, -c.layers[0].amax, c.layers[0].amax).astype(np.int64).T
    for L in c.layers:
        B = np.vstack([a, np.full((L.bias_rows, a.shape[1]), L.amax)])
        acc = L.A @ B
        if L.relu:
            acc = np.maximum(acc, 0)
            m, sh = (np.reshape(v, (-1, 1)) for v in (L.mult, L.shift))   # one, or a row each
            a = np.minimum((acc * m + (1 << (sh - 1))) >> sh, L.next_amax)
        else:
            a = acc
    return a.T


def test_golden_inference_matches_float_and_an_independent_integer_version(digits,
                                                                          small_digits_net):
    Xtr, ytr, Xte, yte = digits
    c = zerohero.compile(small_digits_net, "sim-small", 0.8, finetune_epochs=3)
    gold = nn.golden_infer(c, Xte[:60])
    assert np.array_equal(gold, numpy_integer_inference(c, Xte[:60]))
    real = c.float_model.forward(Xte[:60])
    last = c.layers[-1]
    deq = gold * last.w_scale * last.a_scale
    assert np.max(np.abs(deq - real)) < 0.02 * np.max(np.abs(real))
    assert np.mean(np.argmax(gold, 1) == np.argmax(real, 1)) >= 0.95


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
def test_sklearn_mlpclassifier_weights(digits):
    from sklearn.neural_network import MLPClassifier

    Xtr, ytr, Xte, _ = digits
    clf = MLPClassifier((16,), max_iter=30, random_state=0).fit(Xtr, ytr)
    net = nn.MLP.from_sklearn(clf)
    assert np.array_equal(net.predict(Xte), clf.predict(Xte))
    c = zerohero.compile(clf, "sim-small", pattern="2:4", finetune_epochs=0)
    assert c.sparsity == pytest.approx(0.5)


def test_npz_round_trip(tmp_path):
    net = random_mlp((6, 5, 3))
    net.save(tmp_path / "m.npz")
    back = nn.MLP.load(tmp_path / "m.npz")
    assert all(np.array_equal(a, b) for a, b in zip(net.weights + net.biases,
                                                     back.weights + back.biases))


# Bad input ---------------------------------------------------------------------------------

def test_bad_models_name_the_layer(tmp_path):
    rng = np.random.default_rng(0)
    W0, W1 = rng.normal(size=(4, 3)), rng.normal(size=(5, 2))
    with pytest.raises(ValueError, match=r"^layer 1: W1 has 5 inputs but layer 0 has 3 outputs "
                       r"\(shapes do not chain\)$"):
        nn.MLP([W0, W1], [np.zeros(3), np.zeros(2)])
    bad = W0.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"^layer 0: W0 has nan at \(2, 1\) \(weights must be "
                       r"finite\)$"):
        nn.MLP([bad], [np.zeros(3)])
    with pytest.raises(ValueError, match=r"^layer 0: b0 has inf at 1"):
        nn.MLP([W0], [np.array([0, np.inf, 0])])
    with pytest.raises(ValueError, match=r"^layer 0: b0 must have shape \(3,\)"):
        nn.MLP([W0], [np.zeros(4)])
    with pytest.raises(ValueError, match=r"^activation 'tanh' is not supported"):
        nn.MLP([W0], [np.zeros(3)], activation="tanh")
    np.savez(tmp_path / "conv.npz", W0=W0, b0=np.zeros(3), conv1=np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match=r"unsupported array\(s\) \['conv1'\]"):
        nn.MLP.load(tmp_path / "conv.npz")
    np.savez(tmp_path / "tanh.npz", W0=W0, b0=np.zeros(3), activation="tanh")
    with pytest.raises(ValueError, match="activation 'tanh' is not supported"):
        nn.MLP.load(tmp_path / "tanh.npz")


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
def test_bad_sklearn_activation():
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier((4,), activation="tanh", max_iter=1)
    clf.fit(np.eye(4), [0, 1, 2, 3])
    with pytest.raises(ValueError, match="MLPClassifier activation 'tanh' is not supported"):
        nn.MLP.from_sklearn(clf)


@pytest.mark.parametrize("sparsity, message", [
    (1.0, r"sparsity must be a number in \[0, 1\), not 1.0"),
    (-0.1, r"sparsity must be a number in \[0, 1\), not -0.1"),
])
def test_bad_sparsity(sparsity, message):
    with pytest.raises(ValueError, match=message):
        nn.prune(random_mlp((4, 4)), sparsity)


def test_bad_patterns():
    net = random_mlp((8, 6, 3))
    with pytest.raises(ValueError, match=r"^layer 1: pattern 2:4 needs the number of inputs "
                       r"\(6\) to be a multiple of 4$"):
        nn.prune(net, pattern="2:4")
    with pytest.raises(ValueError, match=r"pattern must be 'unstructured', 'channel' or N:M"):
        nn.prune(net, pattern="5:4")
    with pytest.raises(ValueError, match="sparsity 0.8 contradicts pattern 2:4"):
        nn.prune(random_mlp((8, 4)), 0.8, "2:4")


def test_network_too_wide_for_the_accumulator():
    cfg = unit_config(acc_width=16, spm_depth=32)   # 8-bit weights, 16-bit accumulators
    net = random_mlp((200, 4))
    with pytest.raises(ValueError, match=r"^layer 0: 200 inputs of 8-bit weights leave only"):
        nn.compile_network(net, cfg, calibration=np.ones((2, 200)))


# Running on the accelerator -----------------------------------------------------------------

def test_model_backend_runs_the_golden_inference():
    cfg = acc_config()
    X = np.random.default_rng(1).random((12, 12))
    net = random_mlp((12, 8, 4), seed=2)
    c = nn.compile_network(net, cfg, 0.5, finetune_epochs=0, calibration=X)
    [(got, st)] = nn.run_network(Runtime(cfg, "model"), [(c, "spmm")], X)
    assert np.array_equal(got, nn.golden_infer(c, X))
    assert st["programs"] == 2 * ((len(X) + c.max_batch() - 1) // c.max_batch())


@pytest.mark.cocotb
def test_tiny_network_bit_exact_on_rtl(sim):
    """Sparse (spmm) and dense (gemm) runs of a tiny network, 2 images, bit-exact."""
    cfg = acc_config()
    rng = np.random.default_rng(5)
    X = rng.random((16, 12))
    net = random_mlp((12, 8, 4), seed=4)
    sparse = nn.compile_network(net, cfg, 0.6, finetune_epochs=0, calibration=X)
    dense = nn.compile_network(net, cfg, 0.0, calibration=X)
    acc = Runtime(cfg, sim)
    (got_s, st_s), (got_d, st_d) = nn.run_network(acc, [(sparse, "spmm"), (dense, "gemm")],
                                                  X[:2])
    assert np.array_equal(got_s, nn.golden_infer(sparse, X[:2]))
    assert np.array_equal(got_d, nn.golden_infer(dense, X[:2]))
    assert np.any(got_s != 0)
    assert st_d["cycles"] > st_s["cycles"] > 0


@pytest.mark.cocotb
def test_digits_network_bit_exact_on_verilator(digits, small_digits_net):
    Xtr, ytr, Xte, yte = digits
    sparse = nn.compile_network(small_digits_net, "sim-small", 0.8, finetune_epochs=5)
    dense = nn.compile_network(small_digits_net, "sim-small", 0.0)
    r = nn.evaluate(small_digits_net, sparse, dense, Xte, yte, "verilator", rtl_images=4)
    assert r["bit_exact"] is True
    assert r["images_on_backend"] == 4
    assert r["speedup_vs_dense"] > 2
    assert 0 < r["utilization"] <= 1
    assert r["macs_skipped_per_inference"] > 0          # zero activations after the ReLU
    assert r["accuracy_sparse"] > 0.85



@pytest.mark.cocotb
def test_bench_nn_resident_record_on_verilator():
    """`zerohero bench nn`'s resident row: bit exact, and the host's words per inference at
    the floor (each input and output entry, in bus words, plus a few words per batch)."""
    from zerohero.bench import bench_nn
    n = 4
    [r] = bench_nn("verilator", configs=("sim-small",), sparsities=(0.8,), rtl_images=n)
    assert (r["config"], r["mode"], r["bit_exact"]) == ("sim-small", "resident", True)
    parts = preset("sim-small").spm_word_parts
    # START and the firmware words that count the batch's columns out; CYCLES in.
    assert parts * r["input_words"] < r["host_words_out"] <= parts * r["input_words"] + 32 / n
    assert parts * r["output_words"] < r["host_words_in"] <= parts * r["output_words"] + 1 / n
    assert r["end_to_end_cycles"] > r["compute_cycles"] > 0
    assert r["load_words"] > 1000                       # the weights, written once

# Command line --------------------------------------------------------------------------------

def test_cli_json_keys(tmp_path, capsys):
    net = random_mlp((64, 16, 10), seed=7)
    net.save(tmp_path / "m.npz")
    assert main(["nn", "run", "--model", str(tmp_path / "m.npz"), "--sparsity", "0.5",
                 "--finetune-epochs", "1", "--sim", "model", "--json", "-q"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("accuracy_float", "accuracy_quantized_dense", "accuracy_sparse", "sparsity",
                "pattern", "cycles_per_inference", "dense_cycles_per_inference",
                "speedup_vs_dense", "bit_exact", "utilization", "macs_skipped_per_inference",
                "end_to_end_cycles_per_inference", "host_words_out_per_inference",
                "host_words_in_per_inference", "runtime_calls_per_inference", "overflows"):
        assert key in r
    assert r["sparsity"] == 0.5 and r["pattern"] == "unstructured" and r["bit_exact"] is True


@pytest.mark.parametrize("argv, message", [
    (["--sparsity", "1.5"], "sparsity must be a number in [0, 1), not 1.5"),
    (["--pattern", "3:2"], "pattern must be 'unstructured', 'channel' or N:M"),
    (["--board", "icebreaker"], "--board icebreaker needs --port (the board's serial device)"),
    (["--port", "/dev/ttyUSB1"], "--port needs --board"),
    (["--board", "icebreaker", "--port", "/dev/zh-no-such-port"],
     "cannot open serial port /dev/zh-no-such-port"),
    (["--model", "missing.npz"], "missing.npz: no such file"),
])
def test_cli_bad_input_is_one_line(argv, message, capsys):
    assert main(["nn", "run", "--sim", "model", "-q"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("zerohero: error: ") and message in err and err.count("\n") == 1


def test_a_layer_that_does_not_fit_the_scratchpad_is_named_before_running():
    net = random_mlp((64, 128, 10))
    small = preset("sim-small").replace(name="small-banks", spm_depth=256)
    c = nn.compile_network(net, small, calibration=np.ones((2, 64)))
    acc = Runtime(small, "verilator")                   # nothing is built: it fails first
    # 16 rows of 64 weights + 1 bias per lane: 17 pointers + 1040 entries (sparse), 1040 (dense)
    with pytest.raises(ValueError, match=r"^layer 0 \(sparse\): spmm: lane 0's rows of A needs "
                       r"1057 words but a bank holds 256"):
        nn.check_fits(acc, [(c, "spmm")], 8)
    with pytest.raises(ValueError, match=r"^layer 0 \(dense\): gemm: lane 0's rows of A needs "
                       r"1040 words but a bank holds 256"):
        nn.check_fits(acc, [(c, "gemm")], 8)


# Issue 32: nothing silent ---------------------------------------------------------------------

def test_signed_inputs_are_quantized_symmetrically_not_clipped(digits):
    # quantize_input once clipped negative inputs to 0 without a word: standardized digits
    # (61% negative) lost most of their information. The first layer now quantizes to
    # [-amax, amax] with the calibration's largest magnitude.
    Xtr, ytr, Xte, yte = digits
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-3
    Ztr, Zte = (Xtr - mu) / sd, (Xte - mu) / sd
    net = nn.train((64, 32, 10), Ztr, ytr, epochs=30, seed=0)
    c = nn.compile_network(net, "sim-small", 0.5, calibration=Ztr, train_data=(Ztr, ytr),
                           finetune_epochs=3)
    a = c.quantize_input(Zte)
    assert a.min() < 0 and np.abs(a).max() <= c.layers[0].amax
    assert c.in_scale == pytest.approx(np.abs(Ztr).max() / c.layers[0].amax)
    gold = nn.golden_infer(c, Zte)
    assert np.array_equal(gold, numpy_integer_inference(c, Zte))
    float_acc = nn.accuracy(c.float_model.forward(Zte), yte)
    assert float_acc > 0.85 and nn.accuracy(gold, yte) >= float_acc - 0.02
    # Zeroing the negative inputs (the old behaviour) changes almost every image's logits
    # and costs accuracy.
    clipped = nn.golden_infer(c, np.maximum(Zte, 0))
    assert np.mean(np.any(clipped != gold, axis=1)) > 0.9
    assert nn.accuracy(clipped, yte) < nn.accuracy(gold, yte) - 0.03
    with pytest.raises(ValueError, match=r"^inputs: the value nan at \(3, 5\) is not finite"):
        Zte[3, 5] = np.nan
        nn.golden_infer(c, Zte)
    with pytest.raises(ValueError, match=r"^inputs: expected a batch x 64 array"):
        c.quantize_input(np.ones((2, 11)))


def test_fine_tuning_other_data_never_falls_back_to_digits():
    X = np.random.default_rng(1).random((6, 12))
    with pytest.raises(ValueError, match=r"^pruning with fine-tuning needs train_data"):
        nn.compile_network(random_mlp((12, 8, 4), seed=2), acc_config(), 0.5, calibration=X)


def test_complex_weights_are_refused():
    W = np.ones((4, 3), dtype=np.complex128) * (1 + 2j)
    with pytest.raises(ValueError, match=r"^layer 0: W0 is complex \(weights must be real"):
        nn.MLP([W], [np.zeros(3)])


def test_the_overflow_count_of_a_network_is_zero(tmp_path, capsys):
    net = random_mlp((64, 16, 10), seed=7)
    net.save(tmp_path / "m.npz")
    assert main(["nn", "run", "--model", str(tmp_path / "m.npz"), "--finetune-epochs", "0",
                 "--sim", "model", "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["overflows"] == 0


def bad_model(tmp_path, name, **arrays):
    path = tmp_path / name
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


@pytest.mark.parametrize("make, message", [
    # a model whose output count does not match the data's classes
    (lambda d: bad_model(d, "m7.npz", W0=np.ones((64, 7)), b0=np.zeros(7)),
     "m7.npz: the digits data: y holds the label 7, which the model never predicts (its 7 "
     "outputs are the labels 0, 1, 2, 3, 4, 5, 6)"),
    (lambda d: bad_model(d, "cplx.npz", W0=np.ones((64, 10)) * 1j, b0=np.zeros(10)),
     "cplx.npz: layer 0: W0 is complex"),
    # a .npy renamed .npz (once a TypeError)
    (lambda d: (np.save(d / "w.npy", np.ones(3)), (d / "w.npy").rename(d / "w.npz"))[1]
     or d / "w.npz", "w.npz: not a valid .npz of model arrays W0, b0, W1, b1, ... (it is a "
                     "single .npy array)"),
    # garbage: never suggest loading it with allow_pickle
    (lambda d: (d / "junk.npz").write_bytes(b"PK\x03\x04 not a zip") and d / "junk.npz",
     "junk.npz: not a valid .npz of model arrays"),
    (lambda d: bad_model(d, "pickled.npz", W0=np.array([{}], dtype=object), b0=np.zeros(1)),
     "pickled.npz: not a valid .npz of model arrays W0, b0, W1, b1, ... (array 'W0': pickled "
     "Python objects, which are never loaded)"),
    (lambda d: bad_model(d, "empty.npz", W0=np.zeros((64, 0)), b0=np.zeros(0),
                         W1=np.zeros((0, 10)), b1=np.zeros(10)),
     "empty.npz: layer 0: W0 has shape (64, 0): a layer needs at least one input and one output"),
    (lambda d: (os.mkfifo(d / "fifo.npz"), d / "fifo.npz")[1],     # once a hang
     "fifo.npz: not a regular file"),
    (lambda d: bad_model(d, "inf.npz", W0=np.full((64, 16), 1e300), b0=np.zeros(16),
                         W1=np.full((16, 10), 1e300), b1=np.zeros(10)),
     "inf.npz: the float network's outputs on the digits data are not finite"),
    # a bias no accumulator holds beside weights of 1e-300
    (lambda d: bad_model(d, "tinyw.npz", W0=np.full((64, 10), 1e-300), b0=np.ones(10)),
     "tinyw.npz: layer 0: bias b0[0] = 1 is 3.28e+304 units of weight scale x input range"),
    # a huge bias: once "leave only 0 activation levels"
    (lambda d: bad_model(d, "bias.npz", W0=np.ones((64, 10)), b0=np.full(10, 1e12)),
     "bias.npz: layer 0: bias b0[0] = 1e+12 is"),
])
def test_bad_models_are_one_line_naming_the_file(tmp_path, capsys, make, message):
    path = make(tmp_path)
    assert main(["nn", "run", "--model", str(path), "--sim", "model", "-q",
                 "--finetune-epochs", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zerohero: error: ") and err.count("\n") == 1, err
    assert message in err and "allow_pickle" not in err, err


def test_tiny_weights_quantize_like_any_others(tmp_path, capsys):
    # Weights of 1e-300 once overflowed int64 in the bias quantization (a bogus value error).
    path = bad_model(tmp_path, "tiny.npz", W0=np.full((64, 16), 1e-300), b0=np.zeros(16),
                     W1=np.full((16, 10), 1e-300), b1=np.zeros(10))
    assert main(["nn", "run", "--model", str(path), "--sim", "model", "-q", "--json",
                 "--finetune-epochs", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["bit_exact"] is True
