"""The ONNX front end (zerohero.frontend): models built with onnx.helper and converted from
scikit-learn by skl2onnx, checked against ONNX's reference evaluator and ONNX Runtime (neither
of which zerohero wrote); every unsupported node refused by name; the CLI on ONNX models and
data files, bit-exact on Verilator."""

import json
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from zerohero import nn
from zerohero.cli import main
from zerohero.frontend import OnnxError, load_onnx


def graph_model(nodes, inits, in_shape=("N", 1, 8, 8), outputs=(("logits", 1, ["N", 10]),)):
    g = helper.make_graph(
        nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid("ai.onnx.ml", 3)])
    onnx.checker.check_model(m)
    return m


def every_op_model(seed=0):
    """64 -> 32 -> 10 through every supported mapping: Reshape, MatMul + Add, Relu, Dropout,
    Identity, a Transpose of a constant, Gemm (transB, alpha, beta), then the host's tail."""
    rng = np.random.default_rng(seed)
    f = np.float32
    inits = {"W0": rng.normal(0, 0.2, (64, 32)).astype(f), "b0": rng.normal(0, 0.1, 32).astype(f),
             "W1t": rng.normal(0, 0.2, (32, 10)).astype(f), "b1": rng.normal(0, 0.1, (1, 10)).astype(f),
             "shape": np.array([-1, 64], np.int64), "classes": np.arange(100, 110, dtype=np.int64)}
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["x2"], name="flatten"),
        helper.make_node("MatMul", ["x2", "W0"], ["h"], name="fc0"),
        helper.make_node("Add", ["b0", "h"], ["hb"], name="bias0"),
        helper.make_node("Relu", ["hb"], ["r"], name="relu0"),
        helper.make_node("Dropout", ["r"], ["d"], name="drop"),
        helper.make_node("Identity", ["d"], ["i"], name="same"),
        helper.make_node("Transpose", ["W1t"], ["W1"], name="w1T", perm=[1, 0]),
        helper.make_node("Gemm", ["i", "W1", "b1"], ["logits"], name="fc1", transB=1,
                         alpha=0.5, beta=2.0),
        helper.make_node("Softmax", ["logits"], ["prob"], name="softmax", axis=1),
        helper.make_node("ArgMax", ["prob"], ["idx"], name="argmax", axis=1, keepdims=0),
        helper.make_node("ArrayFeatureExtractor", ["classes", "idx"], ["label"], name="labels",
                         domain="ai.onnx.ml"),
    ]
    return graph_model(nodes, inits, outputs=(("logits", 1, ["N", 10]), ("prob", 1, ["N", 10]),
                                              ("label", 7, ["N"])))


def test_every_supported_mapping_computes_what_onnx_does():
    import onnxruntime

    m = every_op_model()
    net = load_onnx(m)
    assert [(n.name, n.mapping, n.layer) for n in net.nodes] == [
        ("flatten", "no-op", None), ("fc0", "accelerator", 0), ("bias0", "fused", 0),
        ("relu0", "fused", 0), ("drop", "no-op", None), ("same", "no-op", None),
        ("w1T", "constant", None), ("fc1", "accelerator", 1), ("softmax", "host", None),
        ("argmax", "host", None), ("labels", "host", None)]
    assert net.mlp.sizes == (64, 32, 10) and net.input_shape == (1, 8, 8)
    X = np.random.default_rng(1).normal(size=(9, 1, 8, 8)).astype(np.float32)
    ours = net.mlp.forward(net.flatten(X))
    ref = net.reference(X)
    ort = onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    runtime_logits, _, runtime_labels = ort.run(None, {"x": X})
    for theirs in (ref["logits"], runtime_logits):
        assert np.max(np.abs(ours - theirs)) <= 1e-5 * np.max(np.abs(theirs))
    # The label table of the model is the labels' source, not the output index.
    assert np.array_equal(net.labels(ours), np.asarray(runtime_labels).reshape(-1))
    assert np.array_equal(net.reference_labels(X), net.labels(ours))
    assert set(net.labels(ours)) <= set(range(100, 110))


def test_batch_normalization_folds_into_the_layer_before_it():
    import onnxruntime

    rng = np.random.default_rng(4)
    f = np.float32
    inits = {"W0": rng.normal(0, 0.3, (64, 16)).astype(f), "b0": rng.normal(0, 0.1, 16).astype(f),
             "s": rng.uniform(0.5, 2, 16).astype(f), "B": rng.normal(0, 0.2, 16).astype(f),
             "mean": rng.normal(0, 0.5, 16).astype(f), "var": rng.uniform(0.2, 3, 16).astype(f),
             "W1": rng.normal(0, 0.3, (16, 10)).astype(f)}
    nodes = [helper.make_node("Gemm", ["x", "W0", "b0"], ["h"], name="fc0"),
             helper.make_node("BatchNormalization", ["h", "s", "B", "mean", "var"], ["n"],
                              name="bn", epsilon=1e-3),
             helper.make_node("Relu", ["n"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "W1"], ["logits"], name="fc1")]
    m = graph_model(nodes, inits, in_shape=("N", 64))
    net = load_onnx(m)
    assert [(n.name, n.mapping, n.layer) for n in net.nodes] == [
        ("fc0", "accelerator", 0), ("bn", "fused", 0), ("relu", "fused", 0),
        ("fc1", "accelerator", 1)]
    X = rng.normal(size=(7, 64)).astype(f)
    ort = onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    [want] = ort.run(None, {"x": X})
    assert np.max(np.abs(net.mlp.forward(X) - want)) <= 1e-5 * np.max(np.abs(want))
    # Anywhere but right after a layer it is refused.
    nodes[1], nodes[2] = (helper.make_node("Relu", ["h"], ["n"], name="relu"),
                          helper.make_node("BatchNormalization", ["n", "s", "B", "mean", "var"],
                                           ["r"], name="bn"))
    with pytest.raises(OnnxError, match="node 'bn' \\(BatchNormalization\\): a "
                       "BatchNormalization is folded into the layer right before it"):
        load_onnx(graph_model(nodes, inits, in_shape=("N", 64)))


@pytest.fixture(scope="module")
def standardized_digits():
    """Digits standardized per pixel (61 % of the inputs negative) and an MLPClassifier on
    them, converted to ONNX by skl2onnx as a user would."""
    from sklearn.neural_network import MLPClassifier
    from skl2onnx import to_onnx

    Xtr, ytr, Xte, yte = nn.load_digits_split()
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-3
    Ztr, Zte = (Xtr - mu) / sd, (Xte - mu) / sd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier((32,), max_iter=150, random_state=0).fit(Ztr, ytr)
    return clf, to_onnx(clf, Ztr[:1].astype(np.float32)), (Ztr, ytr, Zte, yte)


def test_skl2onnx_classifier_predicts_as_scikit_learn(standardized_digits):
    clf, m, (_, _, Zte, _) = standardized_digits
    net = load_onnx(m)
    maps = {n.op: n.mapping for n in net.nodes}
    assert maps["MatMul"] == "accelerator" and maps["ZipMap"] == "host"
    assert maps["Softmax"] == "host" and maps["ArrayFeatureExtractor"] == "host"
    assert np.array_equal(net.labels(net.mlp.forward(Zte)), clf.predict(Zte))
    assert np.array_equal(net.reference_labels(Zte), clf.predict(Zte))


def _with(model, edit):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    edit(m.graph)
    return m


def _node(g, name):
    return next(n for n in g.node if n.name == name)


def _replace(g, name, new):
    i = [n.name for n in g.node].index(name)
    g.node[i].CopyFrom(new)


@pytest.mark.parametrize("edit, message", [
    (lambda g: _replace(g, "relu0", helper.make_node("Sigmoid", ["hb"], ["r"], name="relu0")),
     "node 'relu0' (Sigmoid): op Sigmoid is not supported; supported: "),
    (lambda g: _replace(g, "relu0", helper.make_node("Identity", ["hb"], ["r"], name="relu0")),
     "node 'fc1' (Gemm): two layers with no Relu between them"),
    (lambda g: _replace(g, "argmax", helper.make_node("ArgMax", ["prob"], ["idx"],
                                                      name="argmax", keepdims=0)),
     "node 'argmax' (ArgMax): axis 0 is not the class axis"),
    (lambda g: _node(g, "fc1").attribute.append(helper.make_attribute("transA", 1)),
     "node 'fc1' (Gemm): transA=1 transposes the activation"),
    (lambda g: g.initializer[[t.name for t in g.initializer].index("shape")].CopyFrom(
        numpy_helper.from_array(np.array([-1, 8, 8], np.int64), "shape")),
     "node 'flatten' (Reshape): shape [-1, 8, 8]: only a Reshape to batch x features"),
    (lambda g: _replace(g, "fc0", helper.make_node("MatMul", ["W0", "x2"], ["h"], name="fc0")),
     "node 'fc0' (MatMul): the activation must be the first operand"),
    (lambda g: g.initializer.remove(g.initializer[[t.name for t in g.initializer].index("W0")])
     or g.input.append(helper.make_tensor_value_info("W0", TensorProto.FLOAT, [64, 32])),
     "a network takes one input tensor, this graph has 2 (x, W0)"),
    (lambda g: _replace(g, "drop", helper.make_node("Dropout", ["r"], ["d", "mask"],
                                                    name="drop")),
     "node 'drop' (Dropout): its mask output is used"),
    (lambda g: g.node.remove(_node(g, "flatten"))
     or _replace(g, "fc0", helper.make_node("MatMul", ["x", "W0"], ["h"], name="fc0")),
     "node 'fc0' (MatMul): its input has per-sample shape [1, 8, 8]: Flatten it first"),
    # The network's answer is its last layer: a graph answering with a hidden layer, or a
    # tail reading one, once ran the whole chain and reported on the wrong tensor.
    (lambda g: g.output.append(helper.make_tensor_value_info("r", TensorProto.FLOAT,
                                                             ["N", 32])),
     "graph output 'r' is not the last layer's logits ('logits') or computed from them"),
    (lambda g: _replace(g, "argmax", helper.make_node("ArgMax", ["r"], ["idx"], name="argmax",
                                                      axis=1, keepdims=0)),
     "node 'argmax' (ArgMax): the post-processing reads 'r', which is not the last layer's "
     "logits"),
    (lambda g: _replace(g, "softmax", helper.make_node("Cast", ["logits"], ["prob"],
                                                       name="softmax", to=TensorProto.INT32)),
     "node 'softmax' (Cast): a Cast of the logits to a non-float type changes their argmax"),
    (lambda g: g.initializer[[t.name for t in g.initializer].index("classes")].CopyFrom(
        numpy_helper.from_array(np.arange(3, dtype=np.int64), "classes")),
     "node 'labels' (ArrayFeatureExtractor): its label table has shape (3,): expected one "
     "label per output (10,)"),
    # Anything that loops or draws at import is not evaluated, even on constants.
    (lambda g: _replace(g, "w1T", helper.make_node("Loop", ["", ""], ["W1"], name="w1T",
                                                   body=helper.make_graph([], "b", [], []))),
     "node 'w1T' (Loop): op Loop on constants is not evaluated at import"),
    (lambda g: _replace(g, "w1T", helper.make_node("RandomNormal", [], ["W1"], name="w1T",
                                                   shape=[10, 32])),
     "node 'w1T' (RandomNormal): op RandomNormal on constants is not evaluated at import"),
])
def test_unsupported_nodes_are_refused_by_name(edit, message):
    m = _with(every_op_model(), edit)
    with pytest.raises(OnnxError, match="^the ONNX model: ") as e:
        load_onnx(m)
    assert message in str(e.value), str(e.value)


def test_a_one_output_model_or_a_bad_batch_normalization_is_refused():
    rng = np.random.default_rng(0)
    f = np.float32
    one = graph_model([helper.make_node("MatMul", ["x", "W"], ["logits"], name="fc")],
                      {"W": rng.normal(size=(64, 1)).astype(f)}, in_shape=("N", 64),
                      outputs=(("logits", 1, ["N", 1]),))
    with pytest.raises(OnnxError, match="the last layer has 1 output: a classifier needs one "
                       "output per class, at least 2"):
        load_onnx(one)
    bn = graph_model([helper.make_node("MatMul", ["x", "W"], ["h"], name="fc"),
                      helper.make_node("BatchNormalization", ["h", "s", "B", "m", "v"],
                                       ["logits"], name="bn")],
                     {"W": rng.normal(size=(64, 4)).astype(f), "s": np.ones(4, f),
                      "B": np.zeros(4, f), "m": np.zeros(4, f), "v": -np.ones(4, f)},
                     in_shape=("N", 64), outputs=(("logits", 1, ["N", 4]),))
    with pytest.raises(OnnxError, match="node 'bn' \\(BatchNormalization\\): var \\+ "
                       "epsilon must be positive"):
        load_onnx(bn)


def test_a_conv_is_refused_before_anything_runs(tmp_path, capsys):
    w = np.ones((4, 1, 3, 3), np.float32)
    m = graph_model([helper.make_node("Conv", ["x", "w"], ["logits"], name="conv1")], {"w": w},
                    outputs=(("logits", 1, ["N", 4, 6, 6]),))
    path = tmp_path / "conv.onnx"
    path.write_bytes(m.SerializeToString())
    assert main(["nn", "inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"zerohero: error: {path}: node 'conv1' (Conv): op Conv is not supported; "
                   "supported: Add, BatchNormalization, Cast, Dropout, Flatten, Gemm, "
                   "Identity, MatMul, Relu, Reshape; after the last layer on the host: Softmax, LogSoftmax, ArgMax, "
                   "ArrayFeatureExtractor, ZipMap\n"), err


@pytest.mark.parametrize("content, message", [
    (b"not a protobuf at all \xff\xfe", "not a readable ONNX model"),
    (b"", "not an ONNX model with a graph"),
])
def test_a_file_that_is_not_onnx_is_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    assert main(["nn", "run", "--model", str(path), "--sim", "model", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"zerohero: error: {path}: {message}") and err.count("\n") == 1, err


def test_inspect_lists_every_node_with_its_mapping_and_macs(tmp_path, capsys):
    path = tmp_path / "net.onnx"
    path.write_bytes(every_op_model().SerializeToString())
    assert main(["nn", "inspect", str(path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    rows = {n["name"]: n for n in r["nodes"]}
    assert len(rows) == 11 and rows["softmax"]["mapping"] == "host"
    assert rows["fc0"]["macs_dense"] == 64 * 32 and rows["fc1"]["macs_dense"] == 32 * 10
    assert main(["nn", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "fc1" in out and "accelerator (layer 1)" in out and "per input: 2368 MACs" in out


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory, standardized_digits):
    _, m, (Ztr, ytr, Zte, yte) = standardized_digits
    d = tmp_path_factory.mktemp("onnx")
    (d / "std.onnx").write_bytes(m.SerializeToString())
    np.savez(d / "std.npz", X=Zte, y=yte, X_train=Ztr, y_train=ytr)
    np.savez(d / "test-only.npz", X=Zte, y=yte)
    return d


def test_run_an_onnx_model_on_signed_data_bit_exact_on_verilator(onnx_files, capsys,
                                                                 standardized_digits):
    clf, _, (_, _, Zte, yte) = standardized_digits
    assert main(["nn", "run", "--model", str(onnx_files / "std.onnx"), "--data",
                 str(onnx_files / "std.npz"), "--sparsity", "0.5", "--finetune-epochs", "5",
                 "--sim", "verilator", "--rtl-images", "6", "--json", "-q"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["bit_exact"] and r["images_on_backend"] == 6 and r["test_images"] == len(Zte)
    assert r["accuracy_float"] == pytest.approx(clf.score(Zte, yte))
    assert r["accuracy_quantized_dense"] >= r["accuracy_float"] - 0.02
    assert r["accuracy_sparse"] >= r["accuracy_float"] - 0.05


@pytest.mark.parametrize("argv, message", [
    (["--data", "{d}/test-only.npz", "--sparsity", "0.5"],
     "test-only.npz: pruning fine-tunes on X_train and y_train, which the file does not hold"),
    (["--data", "{d}/missing.npz"], "missing.npz: no such file"),
    (["--data", "{d}/std.onnx"], "std.onnx: not a valid .npz of data arrays X, y"),
])
def test_bad_data_files_are_one_line(onnx_files, capsys, argv, message):
    argv = [a.format(d=onnx_files) for a in argv]
    assert main(["nn", "run", "--model", str(onnx_files / "std.onnx"), "--sim", "model",
                 "-q"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("zerohero: error: ") and message in err and err.count("\n") == 1, err


def test_compile_never_writes_over_its_data(onnx_files, tmp_path, capsys):
    data = tmp_path / "data.npz"
    data.write_bytes((onnx_files / "std.npz").read_bytes())
    before = data.read_bytes()
    assert main(["nn", "compile", "--model", str(onnx_files / "std.onnx"), "--data", str(data),
                 "--out", str(data), "-q"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "--data" in err and err.count("\n") == 1, err
    assert data.read_bytes() == before


def test_data_with_the_wrong_shape_or_labels_is_refused(onnx_files, tmp_path, capsys):
    np.savez(tmp_path / "wide.npz", X=np.zeros((3, 65)), y=np.zeros(3, np.int64))
    np.savez(tmp_path / "labels.npz", X=np.zeros((3, 64)), y=np.array([0, 11, 2]))
    for name, message in (("wide.npz", "wide.npz: X: expected batch x 64 (the model's input "
                                        "'X'), not shape (3, 65)"),
                          ("labels.npz", "y holds the label 11, which the model never predicts")):
        assert main(["nn", "run", "--model", str(onnx_files / "std.onnx"), "--data",
                     str(tmp_path / name), "--sim", "model", "-q"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_onnx_backend_node_tests_pass_or_are_refused_with_a_reason():
    # ONNX's own node test cases (generated by the installed onnx): every case the importer
    # accepts computes the expected output (float), and one-layer cases quantized on the
    # golden model land within the quantization bound; every other case names its reason.
    from pathlib import Path

    from zerohero.bench import bench_onnx

    # The golden model's backend here; the docs' figures ran the same networks on Verilator
    # (one simulator run a case, which the RTL kernel tests cover already).
    records = bench_onnx("model")
    assert not [r for r in records if r["result"] == "FAIL"]
    passed = {r["op"] for r in records if r["result"] == "pass"}
    assert passed == {"Gemm", "MatMul", "Relu", "Softmax", "ArgMax", "Flatten", "Identity",
                      "Dropout"}
    assert sum(r["op"] == "Gemm" and r["result"] == "pass" for r in records) == 8
    assert all(r["reason"] for r in records if r["result"] == "refused")
    quantized = [r for r in records if r["quant_error"] is not None]
    assert len(quantized) >= 12 and all(r["quant_error"] <= r["quant_bound"] for r in quantized)
    # The docs' table is this run's output.
    docs = Path(__file__).resolve().parents[2] / "docs" / "figures" / "bench-onnx.json"
    assert json.loads(docs.read_text()) == records, "regenerate: zerohero bench onnx --json"
    assert all(r["on_sim"] == "bit-exact" for r in quantized)
