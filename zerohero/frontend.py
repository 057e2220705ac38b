"""The ONNX front end: an ONNX model in, the :class:`zerohero.nn.MLP` it computes out.

:func:`load_onnx` reads a model (a ``.onnx`` path or an ``onnx.ModelProto``) and maps every
node of its graph to one of:

- ``accelerator``: a dense layer (``Gemm``; ``MatMul``, with the ``Add`` of a constant that
  follows it folded in as the bias), run on the chip as an SpMM;
- ``fused``: an operator the accelerator's layer absorbs (``Relu`` between two layers: the
  lanes' fused ReLU and the requantization; ``BatchNormalization`` right after a layer,
  folded into its weights and bias);
- ``no-op``: ``Identity``, ``Dropout`` (inference), ``Flatten`` and ``Reshape`` to
  ``batch x features``;
- ``constant``: ``Constant``, and a reshaping or arithmetic node whose inputs are all
  constants (a ``Transpose`` of a weight, ...; :data:`_FOLDED`), evaluated once at import by
  ONNX's reference implementation;
- ``host``: the classifier's post-processing after its last layer (``Softmax``,
  ``LogSoftmax``, ``ArgMax``, ``Cast``, ``ArrayFeatureExtractor``, ``ZipMap``, ...), which
  runs on the host and only turns the logits into labels and probabilities;
- ``unsupported``: everything else, refused with the node's name, its op type and what is
  supported (:class:`OnnxError`) before anything runs.

The graph must be a chain: one real input (``batch x features``, or ``batch x C x H x W``
flattened first), layers with ``Relu`` between them and none after the last. The predicted
label of an input is ``classes[argmax(logits)]``: ``classes`` is the label table of the
model's ``ArrayFeatureExtractor`` (what skl2onnx's classifiers end with), else ``0..n-1``.
Softmax keeps the argmax, so the host tail cannot change a label.

Convolutions and the quantized operators are not mapped yet: they are refused as unsupported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["OnnxError", "OnnxNetwork", "NodeMap", "load_onnx", "SUPPORTED"]

#: Op types by mapping (the ``host`` ones only after the last layer).
SUPPORTED = {
    "accelerator": ("Gemm", "MatMul"),
    "fused": ("Relu", "Add", "BatchNormalization"),
    "no-op": ("Identity", "Dropout", "Flatten", "Reshape", "Cast"),
    "host": ("Softmax", "LogSoftmax", "ArgMax", "Cast", "ArrayFeatureExtractor", "ZipMap",
             "Identity", "Reshape", "Flatten"),
}
#: ONNX's FLOAT, FLOAT16 and DOUBLE element types.
_FLOAT_TYPES = (1, 10, 11)
#: Ops that begin the host's tail wherever they appear after a layer.
_HOST_ONLY = {"Softmax", "LogSoftmax", "ArgMax", "Cast", "ArrayFeatureExtractor", "ZipMap"}
#: Ops evaluated at import when all their inputs are constants: reshaping and elementwise
#: arithmetic on weights, nothing that loops, draws random numbers or grows without bound.
_FOLDED = {"Identity", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Concat",
           "Cast", "Neg", "Add", "Sub", "Mul", "Div", "Sqrt", "Reciprocal", "Gather", "Slice"}


class OnnxError(ValueError):
    """A model zerohero cannot map (one line: the node, its op type, what is supported)."""


@dataclass
class NodeMap:
    """One node of the graph and what runs it."""

    name: str
    op: str
    mapping: str                  # accelerator, fused, no-op, constant, host
    layer: int | None = None      # the dense layer it belongs to
    detail: str = ""


@dataclass
class OnnxNetwork:
    """What :func:`load_onnx` found: the network, each node's mapping and the label table."""

    mlp: "object"                 # zerohero.nn.MLP
    nodes: list
    input_name: str
    input_shape: tuple            # one sample's shape (features, or C x H x W)
    classes: np.ndarray | None    # labels by output index, or None (the index is the label)
    source: str
    proto: object = field(repr=False, default=None)
    last_index: bool = False      # ArgMax's select_last_index: ties go to the last output

    def flatten(self, X, what: str = "inputs") -> np.ndarray:
        """``X`` (batch x the input's sample shape, or batch x features) as batch x features."""
        X = np.asarray(X)
        shape = tuple(self.input_shape)
        features = math.prod(shape)
        if X.ndim >= 2 and (X.shape[1:] == shape or X.shape[1:] == (features,)):
            return X.reshape(len(X), features)
        flat = f" or batch x {features}" if len(shape) > 1 else ""
        raise OnnxError(f"{what}: expected batch x {' x '.join(map(str, shape))} (the model's "
                        f"input {self.input_name!r}){flat}, not shape {X.shape}")

    def labels(self, logits) -> np.ndarray:
        """The model's predicted labels of integer or float logits (batch x classes)."""
        logits = np.asarray(logits)
        idx = np.argmax(logits[:, ::-1], axis=1) if self.last_index else None
        idx = logits.shape[1] - 1 - idx if self.last_index else np.argmax(logits, axis=1)
        return idx if self.classes is None else self.classes[idx]

    def reference(self, X) -> dict:
        """Every output of the float model on ``X``, by ONNX's reference evaluator (not by
        zerohero's import): the outside check of what :attr:`mlp` computes."""
        from onnx.reference import ReferenceEvaluator

        from onnx import helper

        elem = self.proto.graph.input[[i.name for i in self.proto.graph.input]
                                      .index(self.input_name)].type.tensor_type.elem_type
        X = np.asarray(X, dtype=helper.tensor_dtype_to_np_dtype(elem))
        # ZipMap (probabilities as a list of dicts) has no reference implementation: its
        # outputs are left out, the tensors it maps are outputs of their own already.
        proto = type(self.proto)()
        proto.CopyFrom(self.proto)
        zipped = {o for n in proto.graph.node if n.op_type == "ZipMap" for o in n.output}
        keep = [n for n in proto.graph.node if n.op_type != "ZipMap"]
        del proto.graph.node[:]
        proto.graph.node.extend(keep)
        outputs = [o for o in proto.graph.output if o.name not in zipped]
        del proto.graph.output[:]
        proto.graph.output.extend(outputs)
        names = [o.name for o in proto.graph.output]
        feed = X.reshape((len(X),) + tuple(self.input_shape))
        try:
            # The model's own overflow (say) is its answer; numpy's warnings are not ours.
            with np.errstate(all="ignore"):
                outs = ReferenceEvaluator(proto).run(None, {self.input_name: feed})
        except Exception as e:  # the reference implementation's errors, of any kind
            raise OnnxError(f"{self.source}: ONNX's reference evaluator cannot run the model "
                            f"({type(e).__name__}: {str(e).strip().splitlines()[0][:200]})"
                            ) from None
        return dict(zip(names, outs))

    def reference_labels(self, X) -> np.ndarray:
        """The labels the float ONNX model itself predicts for ``X`` (reference evaluator): its
        integer label output if it has one, else the argmax of its first output."""
        outs = self.reference(X)
        for v in outs.values():
            v = np.asarray(v)
            if v.dtype.kind in "iub" and v.size == len(X):    # a label per input
                return v.reshape(-1).astype(np.int64)
        first = np.asarray(next(iter(outs.values())))
        if first.size % len(X):
            raise OnnxError(f"{self.source}: the model's output {next(iter(outs))!r} has "
                            f"shape {first.shape}, not one row per input ({len(X)})")
        return self.labels(first.reshape(len(X), -1))


def _read(model):
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model, "the ONNX model"
    path = Path(model)
    from zerohero.run_command import RunError, _one_line, input_file

    try:
        input_file(path)
    except RunError as e:
        raise OnnxError(f"{path}: {e}") from None
    try:
        proto = onnx.load(str(path))
    except Exception as e:  # protobuf raises DecodeError and others on a malformed file
        raise OnnxError(f"{path}: not a readable ONNX model ({type(e).__name__}: "
                        f"{_one_line(e)})") from None
    if not proto.graph.node:
        raise OnnxError(f"{path}: not an ONNX model with a graph (no nodes: is it an ONNX "
                        "file?)")
    return proto, str(path)


def _fold(node, inputs, opsets):
    """The outputs of ``node`` on constant ``inputs`` (None where the node has no input), by
    ONNX's reference implementation at the model's ``opsets``."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    names = [f"in{i}" if v is not None else "" for i, v in enumerate(inputs)]
    renamed = helper.make_node(node.op_type, names, list(node.output), domain=node.domain)
    renamed.attribute.extend(node.attribute)
    graph = helper.make_graph(
        [renamed], "fold", [helper.make_tensor_value_info(n, 0, None) for n in names if n],
        [helper.make_tensor_value_info(o, 0, None) for o in node.output if o])
    model = helper.make_model(graph, opset_imports=opsets)
    return ReferenceEvaluator(model).run(None, {n: v for n, v in zip(names, inputs) if n})


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def load_onnx(model) -> OnnxNetwork:
    """Map the ONNX ``model`` (path or ``ModelProto``) to an MLP; :class:`OnnxError` naming
    the file and the node otherwise (see the module doc)."""
    from onnx import numpy_helper

    from zerohero.nn import MLP
    from zerohero.run_command import _one_line

    import onnx

    proto, source = _read(model)
    g = proto.graph

    def fail(why, node=None):
        where = f"node {node.name or '(unnamed)'!r} ({node.op_type})" if node is not None else ""
        raise OnnxError(f"{source}: {where}{': ' if where else ''}{why}")

    # ONNX's own checker first: operator arities, attributes, types, a graph in topological
    # order where every tensor is written once.
    try:
        onnx.checker.check_model(proto)
    except Exception as e:  # ValidationError, and the C++ checker's other exceptions
        fail(f"not a valid ONNX model ({_one_line(e)})")
    const = {}
    for t in g.initializer:
        try:
            const[t.name] = numpy_helper.to_array(t)
        except Exception as e:  # a truncated or mistyped tensor
            fail(f"initializer {t.name!r} cannot be read ({_one_line(e)})")
    produced = {o for n in g.node for o in n.output} | set(const) | {i.name for i in g.input}
    missing = [o.name for o in g.output if o.name not in produced]
    if not g.output or missing:
        fail(f"graph output {missing[0]!r} is computed by no node" if missing else
             "the graph has no output")
    real_inputs = [i for i in g.input if i.name not in const]
    if len(real_inputs) != 1:
        fail(f"a network takes one input tensor, this graph has {len(real_inputs)} "
             f"({', '.join(i.name for i in real_inputs) or 'none'})")
    inp = real_inputs[0]
    ttype = inp.type.tensor_type
    if ttype.elem_type not in _FLOAT_TYPES:
        from onnx import TensorProto

        kind = TensorProto.DataType.Name(ttype.elem_type) if inp.type.HasField("tensor_type") \
            else "not a tensor"
        fail(f"input {inp.name!r} is {kind}: a tensor of floats is supported (quantized "
             "inputs are not mapped yet)")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim]
    if len(dims) < 2 or any(d is None or d < 1 for d in dims[1:]):
        fail(f"input {inp.name!r} has shape {dims}: expected batch x features or batch x C x H "
             "x W with known sizes after the batch")
    sample = tuple(dims[1:])

    nodes, weights, biases, relus = [], [], [], []
    # The activation tensor: its name and its per-sample shape.
    act, shape = inp.name, sample
    layer_open = False             # the last layer may still take a bias (Add)
    host_names = set()             # tensors computed on the host (the tail)
    classes, last_index = None, False
    logits, argmax_seen = None, False   # logits: the last layer's output, once the tail begins

    def value(name, node, kind="real"):
        if name not in const:
            fail(f"input {name!r} must be a constant (an initializer or a Constant), as a "
                 "layer's weights are", node)
        v = np.asarray(const[name])
        if kind == "real" and v.dtype.kind != "f":
            fail(f"input {name!r} holds {v.dtype} values: weights are floats (integer and "
                 "quantized weights are not mapped yet)", node)
        if kind == "int" and v.dtype.kind not in "iu":
            fail(f"input {name!r} holds {v.dtype} values, not integers", node)
        return v.astype(np.float64) if kind == "real" else v

    for node in g.node:
        op, ins = node.op_type, list(node.input)
        a = _attrs(node)
        if node.domain not in ("", "ai.onnx", "ai.onnx.ml"):
            fail(f"operator domain {node.domain!r} is not supported (only the ONNX standard "
                 "domains)", node)
        if ins and all(n == "" or n in const for n in ins) and op in _FOLDED:
            try:
                outs = _fold(node, [const[n] if n else None for n in ins], proto.opset_import)
            except Exception as e:  # the reference implementation's own errors, of any kind
                fail(f"cannot evaluate it on its constant inputs ({type(e).__name__}: "
                     f"{_one_line(e)})", node)
            const.update({o: np.asarray(v) for o, v in zip(node.output, outs) if o})
            nodes.append(NodeMap(node.name, op, "constant", detail="evaluated at import"))
            continue
        if op == "Constant":
            try:
                outs = _fold(node, [], proto.opset_import)
            except Exception as e:  # no value, or one the reference cannot read
                fail(f"its value cannot be read ({type(e).__name__}: {_one_line(e)})", node)
            const[node.output[0]] = np.asarray(outs[0])
            nodes.append(NodeMap(node.name, op, "constant"))
            continue
        if all(n == "" or n in const for n in ins) and op not in _HOST_ONLY:
            fail(f"op {op} on constants is not evaluated at import; evaluated: "
                 f"{', '.join(sorted(_FOLDED))} and Constant", node)
        uses_act = act in ins
        tail = op in _HOST_ONLY or (not uses_act and any(n in host_names for n in ins))
        if logits is not None or (tail and weights):
            if op not in SUPPORTED["host"]:
                fail(f"after the last layer only the classifier's post-processing runs (on the "
                     f"host): {', '.join(SUPPORTED['host'])}", node)
            if logits is None:
                logits = act                # the tail begins: it reads these and its own
                host_names.add(act)
            stray = [n for n in ins if n and n not in host_names and n not in const]
            if stray:
                fail(f"the post-processing reads {stray[0]!r}, which is not the last layer's "
                     f"logits ({logits!r}) or computed from them", node)
            if op == "Cast" and not argmax_seen and a.get("to") not in _FLOAT_TYPES:
                fail("a Cast of the logits to a non-float type changes their argmax "
                     "(labels are the argmax of the logits)", node)
            if op in ("Flatten", "Reshape") and not argmax_seen:
                target = (a.get("axis", 1) == 1 if op == "Flatten" else
                          [int(v) for v in value(ins[1], node, "int").reshape(-1)] in
                          ([-1, weights[-1].shape[1]], [0, -1], [0, weights[-1].shape[1]]))
                if not target:
                    fail("before the ArgMax, the post-processing keeps batch x classes "
                         "(Flatten(axis=1), or a Reshape to [-1, classes] or [0, -1])", node)
            argmax_seen = argmax_seen or op == "ArgMax"
            if op in ("Softmax", "LogSoftmax", "ArgMax") and a.get("axis", -1 if op != "ArgMax"
                                                                  else 0) not in (1, -1):
                fail(f"axis {a.get('axis', 0)} is not the class axis (1 or -1 of batch x "
                     "classes)", node)
            host_names.update(node.output)
            last_index = last_index or (op == "ArgMax" and bool(a.get("select_last_index")))
            nodes.append(NodeMap(node.name, op, "host", detail="post-processing of the logits"))
            if op == "ArrayFeatureExtractor" and ins[0] in const:
                classes = np.asarray(const[ins[0]])
                if classes.ndim != 1 or classes.size != weights[-1].shape[1]:
                    fail(f"its label table has shape {classes.shape}: expected one label per "
                         f"output ({weights[-1].shape[1]},)", node)
                nodes[-1].detail = f"labels {classes.tolist()[:10]}" + \
                    ("..." if classes.size > 10 else "")
            continue
        if not uses_act:
            fail(f"it does not take the network's activation ({act!r}): the graph must be a "
                 "chain from one input through its layers", node)
        if op in ("Gemm", "MatMul"):
            if ins[0] != act:
                fail("the activation must be the first operand (batch x features)", node)
            if len(shape) != 1:
                fail(f"its input has per-sample shape {list(shape)}: Flatten it first", node)
            if op == "Gemm" and a.get("transA", 0):
                fail("transA=1 transposes the activation (batch-major activations only)", node)
            W = value(ins[1], node)
            if W.ndim != 2:
                fail(f"its weight has shape {W.shape}: expected a 2-D matrix", node)
            if op == "Gemm":
                W = (W.T if a.get("transB", 0) else W) * a.get("alpha", 1.0)
            b = np.zeros(W.shape[1])
            if op == "Gemm" and len(ins) > 2 and ins[2]:
                b = _bias(value(ins[2], node) * a.get("beta", 1.0), W.shape[1],
                          lambda why: fail(why, node))
            if W.shape[0] != shape[0]:
                fail(f"its weight takes {W.shape[0]} inputs, the activation has {shape[0]}",
                     node)
            if weights and not relus[-1]:
                fail("two layers with no Relu between them: zerohero's networks have ReLU "
                     "between dense layers", node)
            weights.append(W)
            biases.append(b)
            relus.append(False)
            layer_open = True
            shape = (W.shape[1],)
            nodes.append(NodeMap(node.name, op, "accelerator", len(weights) - 1,
                                 f"{W.shape[0]} x {W.shape[1]}"))
        elif op == "Add":
            other = ins[1] if ins[0] == act else ins[0]
            if not layer_open:
                fail("an Add is supported only as the bias right after a MatMul or Gemm", node)
            biases[-1] = biases[-1] + _bias(value(other, node), shape[0],
                                            lambda why: fail(why, node))
            nodes.append(NodeMap(node.name, op, "fused", len(weights) - 1, "bias"))
        elif op == "BatchNormalization":
            if not layer_open:
                fail("a BatchNormalization is folded into the layer right before it (Gemm or "
                     "MatMul, with its bias): put it right after one", node)
            if a.get("training_mode", 0) or len(node.output) > 1 and any(node.output[1:]):
                fail("training_mode or its running-statistics outputs: inference only", node)
            scale, bias, mean, var = (value(n, node).reshape(-1) for n in ins[1:5])
            if not all(v.size == shape[0] for v in (scale, bias, mean, var)):
                fail(f"its scale, B, mean and var must have one value per channel "
                     f"({shape[0]})", node)
            # y = scale * (x - mean) / sqrt(var + epsilon) + B, per output of the layer.
            var = var + a.get("epsilon", 1e-5)
            if not np.all(var > 0):
                fail("var + epsilon must be positive in every channel", node)
            k = scale / np.sqrt(var)
            weights[-1] = weights[-1] * k
            biases[-1] = (biases[-1] - mean) * k + bias
            nodes.append(NodeMap(node.name, op, "fused", len(weights) - 1,
                                 "folded into the weights and bias"))
        elif op == "Relu":
            if not weights or relus[-1]:
                fail("a Relu is supported only right after a layer (MatMul or Gemm)", node)
            relus[-1] = True
            layer_open = False
            nodes.append(NodeMap(node.name, op, "fused", len(weights) - 1,
                                 "the lanes' fused ReLU"))
        elif op == "Cast" and not weights and a.get("to") in _FLOAT_TYPES:
            nodes.append(NodeMap(node.name, op, "no-op", detail="to float"))
        elif op in ("Identity", "Dropout"):
            if op == "Dropout" and len(node.output) > 1 and node.output[1]:
                fail("its mask output is used: Dropout is supported for inference only", node)
            if op == "Dropout" and len(ins) > 2 and ins[2] and bool(np.asarray(
                    value(ins[2], node, "any")).reshape(-1)[0]):
                fail("training_mode is true: Dropout is supported for inference only", node)
            nodes.append(NodeMap(node.name, op, "no-op"))
        elif op in ("Flatten", "Reshape"):
            features = math.prod(shape)
            if op == "Flatten" and a.get("axis", 1) != 1:
                fail(f"axis {a.get('axis')}: only Flatten(axis=1) (batch x features) is "
                     "supported", node)
            if op == "Reshape":
                target = [int(v) for v in value(ins[1], node, "int").reshape(-1)]
                ok = len(target) == 2 and target[0] in (0, -1) and target[1] in (-1, features) \
                    and target != [-1, -1] and not (a.get("allowzero", 0) and 0 in target)
                if not ok:
                    fail(f"shape {target}: only a Reshape to batch x features ([-1, {features}] "
                         f"or [0, -1]) is supported", node)
            shape = (features,)
            layer_open = False
            nodes.append(NodeMap(node.name, op, "no-op", detail=f"to batch x {features}"))
        else:
            fail(f"op {op} is not supported; supported: {_supported_text()}", node)
        act = node.output[0]
    if not weights:
        fail("no dense layer (Gemm or MatMul) found")
    if relus[-1]:
        fail("a Relu after the last layer is not supported: the last layer's outputs are the "
             "logits")
    logits = logits or act
    wrong = [o.name for o in g.output if o.name != logits and o.name not in host_names]
    if wrong:
        fail(f"graph output {wrong[0]!r} is not the last layer's logits ({logits!r}) or "
             "computed from them: the network's answer is its last layer")
    if weights[-1].shape[1] < 2:
        fail(f"the last layer has {weights[-1].shape[1]} output: a classifier needs one "
             "output per class, at least 2 (regressors are not supported)")
    try:
        mlp = MLP(weights, biases)
    except ValueError as e:
        fail(str(e))
    return OnnxNetwork(mlp, nodes, inp.name, sample, classes, source, proto, last_index)


def _bias(C, out: int, fail) -> np.ndarray:
    """A bias ``C`` broadcast to ``out`` entries, or ``fail``: one value per output (shape
    ``()``, ``(1,)``, ``(out,)`` or ``(1, out)``)."""
    if C.size == 1 or C.shape in ((out,), (1, out)):
        return np.broadcast_to(C.reshape(-1), (out,)).astype(np.float64)
    fail(f"its bias has shape {C.shape}: expected one value per output ({out},)")


def _supported_text() -> str:
    ops = sorted({o for k in ("accelerator", "fused", "no-op") for o in SUPPORTED[k]})
    return ", ".join(ops) + "; after the last layer on the host: " + ", ".join(
        o for o in SUPPORTED["host"] if o not in ops)
