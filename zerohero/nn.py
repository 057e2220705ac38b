"""Neural networks on the accelerator: train, prune, quantize, compile, run.

A feed-forward network goes in, a sparse integer network that runs layer after layer on the
accelerator comes out, and :func:`golden_infer` defines its integer inference once.

Model (:class:`MLP`)
--------------------
A sequence of dense layers ``x -> x @ W_i + b_i`` (``W_i`` is ``in x out``, ``b_i`` has
``out`` entries) with ReLU between layers and nothing after the last (the outputs are logits;
the prediction is their argmax). ``.npz`` files hold ``W0, b0, W1, b1, ...`` and optionally
``activation`` (only ``"relu"`` is supported); a scikit-learn ``MLPClassifier`` is accepted
through its ``coefs_`` / ``intercepts_`` (:meth:`MLP.from_sklearn`).

Compilation (:func:`compile_network`, also ``zerohero.compile``)
----------------------------------------------------------------
1. Magnitude pruning of every weight matrix (biases are kept): ``unstructured`` removes the
   ``round(s * size)`` smallest magnitudes of each layer (exact per-layer sparsity ``s``);
   ``N:M`` keeps the ``N`` largest magnitudes of every group of ``M`` consecutive inputs of
   each output (sparsity ``1 - N/M``). Then masked fine-tuning (:func:`finetune`): Adam on the
   training split, gradients and weights multiplied by the fixed mask after every step.
2. Symmetric integer quantization per layer, with scales from a calibration set (the float
   activations of the training images): weights ``Wq = round(W / s_w)``,
   ``s_w = max|W| / value_max`` (full ``value_width``); the layer's input activations
   ``aq = round(a / s_a)`` clipped to ``[0, amax]`` (hidden layers: ReLU outputs) or to
   ``[-amax, amax]`` (the first layer: inputs of either sign, such as standardized data),
   with ``s_a = (calibration max of |a|) / amax``. ``amax`` is the largest integer (at most ``value_max``) for which no partial sum
   can leave the accumulator: ``amax * max_row(sum |Wq_aug|) <= acc_max``; so overflow never
   happens and ``wrap``/``saturate`` cannot matter.
3. The bias is folded into the hardware's accumulator, exactly: the layer's input gets one
   extra row (more only for very large biases) holding the constant activation ``amax`` (the
   real value ``s_a * amax``), and ``A`` one extra column ``round(b / (s_w * s_a * amax))``.
   The bias is thus one more product in the same dot product, the fused ReLU of the hardware
   sees ``W x + b``, and nothing but requantization is left to the host.
4. Every layer is an SpMM on the accelerator: ``A = [Wq^T | bias column]`` (``out x in+1``,
   a CSR of integers) times ``B`` = the activation batch (``in+1 x batch``), with the fused
   ReLU on hidden layers. Between layers the accumulators are requantized:
   ``a_next = min((acc * m + 2**(sh-1)) >> sh, amax_next)`` with an integer multiplier ``m``
   (15 bits) and shift ``sh`` approximating ``s_w * s_a / s_a_next`` (``acc >= 0`` after the
   ReLU; one ``m`` and ``sh`` a row with channel weight scales), by the host between runtime
   calls (:func:`run_network`) or by the chip's result stage when the network is resident
   (``Runtime.load``), bit for bit the same. The last layer's accumulators are the integer
   logits.

:func:`golden_infer` is that inference on the golden model's naive kernels
(:func:`zerohero.model.spmm` with ``IntSemantics`` of the configuration);
:func:`run_network` runs the same layers through :class:`zerohero.runtime.Runtime` and the
same host requantization, so RTL and golden are compared bit-exactly. The dense baseline is the
unpruned quantized network run with the ``gemm`` kernel (dense mode: every coordinate of ``A``
streamed) on the same hardware.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zerohero.spec.config import AccelConfig, preset
from zerohero import model

__all__ = [
    "MLP", "load_digits_split", "train", "prune", "finetune", "parse_pattern",
    "compile_network", "CompiledNetwork", "QuantLayer", "golden_infer", "run_network",
    "check_fits",
    "requantize", "evaluate", "DEFAULT_FINETUNE_EPOCHS", "DEFAULT_SIZES",
]

DEFAULT_SIZES = (64, 128, 64, 10)
DEFAULT_TRAIN_EPOCHS = 120
DEFAULT_FINETUNE_EPOCHS = 40
TRAIN_IMAGES = 1400        # digits 0-1399 train/calibrate, 1400+ test
MULT_BITS = 15             # host requantization multiplier: [2**14, 2**15)
MIN_LEVELS = 15            # fewest activation levels a layer's quantization may leave


# The model -------------------------------------------------------------------------------

@contextmanager
def _about(path):
    """ValueErrors raised inside are about the file ``path`` (if any): prefix its name."""
    try:
        yield
    except ValueError as e:
        if path is None or str(e).startswith(f"{path}:"):
            raise
        raise ValueError(f"{path}: {e}") from None


def _real_array(a, name: str, layer: int) -> np.ndarray:
    """``a`` as finite float64, or a ValueError naming the layer and the array (NumPy would
    drop an imaginary part with only a warning)."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        kind = "complex" if a.dtype.kind == "c" else f"of type {a.dtype}"
        raise ValueError(f"layer {layer}: {name} is {kind} (weights must be real numbers)")
    a = a.astype(np.float64)
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        pos = tuple(int(k) for k in bad[0])
        raise ValueError(f"layer {layer}: {name} has {a[pos]} at "
                         f"{pos[0] if len(pos) == 1 else pos} (weights must be finite)")
    return a


@dataclass
class MLP:
    """Dense layers ``x @ W_i + b_i`` with ReLU between them (none after the last)."""

    weights: list
    biases: list
    activation: str = "relu"

    def __post_init__(self):
        if self.activation != "relu":
            raise ValueError(f"activation {self.activation!r} is not supported (only 'relu' "
                             "between layers, none after the last)")
        if len(self.weights) == 0 or len(self.weights) != len(self.biases):
            raise ValueError(f"a model needs one bias per weight matrix and at least one layer, "
                             f"not {len(self.weights)} weight(s) and {len(self.biases)} bias(es)")
        ws, bs = [], []
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            W, b = _real_array(W, f"W{i}", i), _real_array(b, f"b{i}", i)
            if W.ndim != 2:
                raise ValueError(f"layer {i}: W{i} must be 2-D (in x out), not shape {W.shape}")
            if 0 in W.shape:
                raise ValueError(f"layer {i}: W{i} has shape {W.shape}: a layer needs at least "
                                 "one input and one output")
            if b.shape != (W.shape[1],):
                raise ValueError(f"layer {i}: b{i} must have shape ({W.shape[1]},) to match W{i} "
                                 f"{W.shape}, not {b.shape}")
            if i and W.shape[0] != ws[-1].shape[1]:
                raise ValueError(f"layer {i}: W{i} has {W.shape[0]} inputs but layer {i - 1} "
                                 f"has {ws[-1].shape[1]} outputs (shapes do not chain)")
            ws.append(W)
            bs.append(b)
        self.weights, self.biases = ws, bs

    @property
    def sizes(self) -> tuple:
        return (self.weights[0].shape[0],) + tuple(W.shape[1] for W in self.weights)

    def forward(self, X, upto=None):
        """Float logits of ``X`` (batch x in); with ``upto=i`` the input of layer ``i``."""
        a = np.asarray(X, dtype=np.float64)
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            if i == upto:
                return a
            a = a @ W + b
            if i < len(self.weights) - 1:
                a = np.maximum(a, 0)
        return a

    def predict(self, X):
        return np.argmax(self.forward(X), axis=1)

    def copy(self) -> "MLP":
        return MLP([W.copy() for W in self.weights], [b.copy() for b in self.biases])

    def sparsity(self) -> float:
        total = sum(W.size for W in self.weights)
        return sum(int((W == 0).sum()) for W in self.weights) / total

    # Files -------------------------------------------------------------------------------

    def save(self, file):
        """Write the ``.npz`` to ``file``: an open binary file, or a name (to which NumPy
        appends ``.npz`` if it is missing)."""
        arrays = {}
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"W{i}"], arrays[f"b{i}"] = W, b
        np.savez(file, activation=np.array(self.activation), **arrays)

    @classmethod
    def load(cls, path) -> "MLP":
        """The model of the ``.npz`` file ``path``; every error names the file."""
        with _about(path):
            arrays = _read_npz(path)
            activation = str(arrays.pop("activation", "relu"))
            n = 0
            while f"W{n}" in arrays:
                n += 1
            unknown = sorted(set(arrays) - {f"{p}{i}" for p in "Wb" for i in range(n)})
            if unknown:
                raise ValueError(f"unsupported array(s) {unknown}: a model holds only "
                                 "W0, b0, W1, b1, ... (dense layers) and 'activation'")
            missing = [f"b{i}" for i in range(n) if f"b{i}" not in arrays]
            if n == 0 or missing:
                raise ValueError(f"missing {missing or ['W0']}: a model holds W0, b0, W1, b1, ...")
            return cls([arrays[f"W{i}"] for i in range(n)], [arrays[f"b{i}"] for i in range(n)],
                       activation)

    @classmethod
    def from_sklearn(cls, clf) -> "MLP":
        """The weights of a fitted scikit-learn ``MLPClassifier`` (ReLU, softmax output)."""
        if getattr(clf, "activation", "relu") != "relu":
            raise ValueError(f"MLPClassifier activation {clf.activation!r} is not supported "
                             "(only 'relu')")
        out = getattr(clf, "out_activation_", "softmax")
        if out not in ("softmax", "identity"):
            raise ValueError(f"MLPClassifier output activation {out!r} is not supported "
                             "(softmax or identity: the prediction is the argmax of the logits)")
        return cls(list(clf.coefs_), list(clf.intercepts_))


def _read_npz(path, holds: str = "model arrays W0, b0, W1, b1, ...") -> dict:
    """Every array of the ``.npz`` file ``path`` by name, or a ValueError saying why not
    (``holds``: what such a file holds). Pickled objects are refused, never loaded
    (``allow_pickle=False``)."""
    from zerohero.run_command import _one_line, input_file

    def why(e, pickled):
        # NumPy's message about pickled data advises loading it unsafely: never pass that on.
        return pickled if "pickle" in str(e) else _one_line(e)

    invalid = f"not a valid .npz of {holds}"
    input_file(Path(path))              # _about names the file in front
    try:
        data = np.load(path, allow_pickle=False)
    except OSError as e:
        raise ValueError(f"not a readable .npz ({e})") from None
    except Exception as e:  # NumPy and zipfile raise many kinds on a malformed file
        reason = why(e, "not a zip of .npy arrays; pickled data is never loaded")
        raise ValueError(f"{invalid} ({reason})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{invalid} (it is a single .npy array)")
    arrays = {}
    with data:
        for name in data.files:
            try:
                arrays[name] = data[name]
            except Exception as e:
                reason = why(e, "pickled Python objects, which are never loaded")
                raise ValueError(f"{invalid} (array {name!r}: {reason})") from None
            if not isinstance(arrays[name], np.ndarray):
                raise ValueError(f"{invalid} ({name!r} is not a .npy array)")
    return arrays


def check_images(X, inputs: int, what: str) -> np.ndarray:
    """``X`` (batch x ``inputs`` finite real numbers, of either sign) as float64, or a
    ValueError naming ``what``, the value and its position."""
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != inputs:
        raise ValueError(f"{what}: expected a batch x {inputs} array (the network's inputs), "
                         f"not shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{what}: expected real numbers, not {X.dtype}")
    X = X.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        pos = tuple(int(k) for k in np.argwhere(bad)[0])
        raise ValueError(f"{what}: the value {X[pos]:g} at {pos} is not finite")
    return X


DATA_ARRAYS = ("X", "y", "X_calib", "X_train", "y_train")


def load_data(path) -> dict:
    """A data set ``.npz``: ``X`` and ``y`` (inputs and integer labels: the test set), and
    optionally ``X_calib`` (calibration inputs, default ``X_train``, else ``X``) and
    ``X_train`` / ``y_train`` (fine-tuning after pruning). Every error names the file and the
    array; inputs are checked against the model later (:func:`check_images`)."""
    with _about(path):
        arrays = _read_npz(path, "data arrays X, y (and X_calib, X_train, y_train)")
        unknown = sorted(set(arrays) - set(DATA_ARRAYS))
        if unknown:
            raise ValueError(f"unsupported array(s) {unknown}: a data file holds "
                             f"{', '.join(DATA_ARRAYS)}")
        for x, y in (("X", "y"), ("X_train", "y_train")):
            if (x in arrays) != (y in arrays) or "X" not in arrays:
                missing = [n for n in (x, y, "X") if n not in arrays][0]
                raise ValueError(f"missing {missing!r}: a data file holds inputs X and labels "
                                 "y (X_train and y_train go together too)")
            if x not in arrays:
                continue
            X, Y = arrays[x], arrays[y]
            if X.dtype.kind not in "biuf" or X.ndim < 2 or len(X) == 0:
                raise ValueError(f"{x}: expected a non-empty batch of real inputs (batch x "
                                 f"features, or batch x C x H x W), not {X.dtype} {X.shape}")
            if Y.dtype.kind not in "biu" or Y.shape != (len(X),):
                raise ValueError(f"{y}: expected one integer label per input of {x} "
                                 f"({len(X)},), not {Y.dtype} {Y.shape}")
        C = arrays.get("X_calib")
        if C is not None and (C.dtype.kind not in "biuf" or C.ndim < 2 or not len(C)):
            raise ValueError(f"X_calib: expected a non-empty batch of real inputs, not "
                             f"{C.dtype} {C.shape}")
        return arrays


def load_digits_split():
    """scikit-learn's digits (shipped offline): pixel/16; images 0-1399 train, 1400+ test."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    return X[:TRAIN_IMAGES], y[:TRAIN_IMAGES], X[TRAIN_IMAGES:], y[TRAIN_IMAGES:]


# Training (NumPy) ------------------------------------------------------------------------

def _adam(net: MLP, X, y, epochs, seed, masks=None, lr=1e-3, batch=32, weight_decay=1e-4):
    """Mini-batch Adam on softmax cross-entropy; with ``masks`` the pruned weights stay 0."""
    rng = np.random.default_rng(seed)
    params = [p for W, b in zip(net.weights, net.biases) for p in (W, b)]
    keep = None
    if masks is not None:
        keep = [m for mask in masks for m in (mask, None)]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    t = 0
    last = len(net.weights) - 1
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for s in range(0, len(X), batch):
            idx = order[s:s + batch]
            acts = [X[idx]]
            for i, (W, b) in enumerate(zip(net.weights, net.biases)):
                z = acts[-1] @ W + b
                acts.append(np.maximum(z, 0) if i < last else z)
            logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1
            g = p / len(idx)
            grads = [None] * len(params)
            for i in range(last, -1, -1):
                grads[2 * i] = acts[i].T @ g + weight_decay * net.weights[i]
                grads[2 * i + 1] = g.sum(axis=0)
                if i:
                    g = (g @ net.weights[i].T) * (acts[i] > 0)
            t += 1
            for k, (p_, g_) in enumerate(zip(params, grads)):
                if keep is not None and keep[k] is not None:
                    g_ = g_ * keep[k]
                m1[k] = 0.9 * m1[k] + 0.1 * g_
                m2[k] = 0.999 * m2[k] + 0.001 * g_ * g_
                p_ -= lr * (m1[k] / (1 - 0.9 ** t)) / (np.sqrt(m2[k] / (1 - 0.999 ** t)) + 1e-8)
                if keep is not None and keep[k] is not None:
                    p_ *= keep[k]
    return net


def train(sizes=DEFAULT_SIZES, X=None, y=None, epochs=DEFAULT_TRAIN_EPOCHS, seed=0) -> MLP:
    """A float MLP trained from a deterministic He initialization (digits by default)."""
    if X is None:
        X, y, _, _ = load_digits_split()
    rng = np.random.default_rng(seed)
    ws = [rng.normal(0, math.sqrt(2 / n), (n, m)) for n, m in zip(sizes[:-1], sizes[1:])]
    net = MLP(ws, [np.zeros(m) for m in sizes[1:]])
    return _adam(net, X, y, epochs, seed, lr=3e-3)


def finetune(net: MLP, masks, X, y, epochs=DEFAULT_FINETUNE_EPOCHS, seed=0) -> MLP:
    """A copy of ``net`` trained ``epochs`` more epochs with the pruning ``masks`` fixed."""
    out = net.copy()
    if epochs:
        _adam(out, X, y, epochs, seed + 1, masks=masks, lr=5e-4)
    return out


# Pruning ---------------------------------------------------------------------------------

PATTERNS = ("unstructured", "channel")


def parse_pattern(pattern: str):
    """``"unstructured"`` or ``"channel"`` -> None; ``"N:M"`` -> ``(N, M)`` with
    ``1 <= N <= M``."""
    if pattern in PATTERNS:
        return None
    m = re.fullmatch(r"(\d+):(\d+)", str(pattern))
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise ValueError(f"pattern must be 'unstructured', 'channel' or N:M with 1 <= N <= M "
                         f"(such as 2:4), not {pattern!r}")
    return int(m[1]), int(m[2])


def resolve_sparsity(sparsity, pattern: str) -> float:
    """The sparsity of a (sparsity, pattern) request; N:M implies ``1 - N/M``."""
    nm = parse_pattern(pattern)
    if nm is not None:
        implied = 1 - nm[0] / nm[1]
        if sparsity is not None and not math.isclose(float(sparsity), implied):
            raise ValueError(f"sparsity {sparsity} contradicts pattern {pattern} "
                             f"(which means sparsity {implied:g}); give one of them")
        return implied
    s = 0.0 if sparsity is None else sparsity
    if not isinstance(s, (int, float)) or not 0 <= s < 1:
        raise ValueError(f"sparsity must be a number in [0, 1), not {sparsity!r}")
    return float(s)


def prune_channels(net: MLP, sparsity: float) -> MLP:
    """Structured pruning: the ``round(s * outputs)`` output channels of every hidden layer
    with the smallest L2 norm of their weights are removed, with their bias and the next
    layer's inputs they fed, so both layers shrink (the classes are never removed)."""
    ws, bs = [W.copy() for W in net.weights], [b.copy() for b in net.biases]
    for i in range(len(ws) - 1):
        out = ws[i].shape[1]
        drop = min(round(sparsity * out), out - 1)            # a layer keeps one channel
        keep = np.sort(np.argsort(-np.linalg.norm(ws[i], axis=0), kind="stable")[:out - drop])
        ws[i], bs[i], ws[i + 1] = ws[i][:, keep], bs[i][keep], ws[i + 1][keep, :]
    return MLP(ws, bs)


def prune(net: MLP, sparsity=None, pattern: str = "unstructured"):
    """Magnitude pruning: ``(pruned copy, masks)``, one 0/1 mask per weight matrix (for
    ``channel``, the shrunk network of :func:`prune_channels` and masks of ones)."""
    s = resolve_sparsity(sparsity, pattern)
    if pattern == "channel":
        pruned = prune_channels(net, s)
        return pruned, [np.ones_like(W) for W in pruned.weights]
    nm = parse_pattern(pattern)
    masks = []
    for i, W in enumerate(net.weights):
        mag = np.abs(W)
        if nm is None:
            k = round(s * W.size)
            mask = np.ones(W.size)
            mask[np.argsort(mag, axis=None, kind="stable")[:k]] = 0
            mask = mask.reshape(W.shape)
        else:
            n, m = nm
            if W.shape[0] % m:
                raise ValueError(f"layer {i}: pattern {n}:{m} needs the number of inputs "
                                 f"({W.shape[0]}) to be a multiple of {m}")
            groups = mag.T.reshape(W.shape[1], -1, m)                  # out x groups x m
            order = np.argsort(-groups, axis=2, kind="stable")
            mask = np.zeros_like(groups)
            np.put_along_axis(mask, order[:, :, :n], 1, axis=2)
            mask = mask.reshape(W.shape[1], W.shape[0]).T
        masks.append(mask)
    pruned = MLP([W * k for W, k in zip(net.weights, masks)], [b.copy() for b in net.biases])
    return pruned, masks


# Quantization and compilation ------------------------------------------------------------

def requantize(acc, mult: int, shift: int, amax: int) -> np.ndarray:
    """Host requantization of (ReLU'd) accumulators: round-half-up ``acc * mult / 2**shift``,
    clipped to ``[0, amax]``. Python integers, so nothing can overflow."""
    return model.requantize(acc, mult, shift, 0, 0, amax)


@dataclass
class QuantLayer:
    """One layer as the accelerator runs it: ``acc = A @ [a; amax...]`` (ReLU if ``relu``)."""

    A: np.ndarray          # out x (in + bias_rows) integer weights, bias columns last
    amax: int              # input activations are in [-amax, amax]; the bias rows hold amax
    bias_rows: int
    relu: bool
    w_scale: object        # a float, or one a row (channel weight scales)
    a_scale: float
    mult: object = 0       # requantization to the next layer (hidden layers only): an int,
    shift: object = 0      # or one a row
    next_amax: int = 0

    @property
    def csr(self):
        return model.from_dense(self.A, "csr")

    def operand(self, a) -> np.ndarray:
        """The B operand: the activation batch (in x batch) and the constant bias rows."""
        a = np.asarray(a, dtype=np.int64)
        return np.vstack([a, np.full((self.bias_rows, a.shape[1]), self.amax, dtype=np.int64)])

    def next(self, acc) -> np.ndarray:
        """Next layer's activations from this layer's accumulators (host requantization)."""
        return requantize(acc, self.mult, self.shift, self.next_amax)


@dataclass
class CompiledNetwork:
    cfg: AccelConfig
    layers: list
    in_scale: float
    sparsity: float                  # fraction of zero weights (biases excluded)
    pattern: str
    float_model: MLP = field(repr=False, default=None)
    weight_scales: str = "tensor"

    def quantize_input(self, X) -> np.ndarray:
        """Inputs (batch x in, real, of either sign) -> the first layer's activations (in x
        batch), symmetric: ``round(x / in_scale)`` (ties away from zero) clipped to
        ``[-amax, amax]``, so inputs beyond the calibration range saturate."""
        L0 = self.layers[0]
        X = check_images(X, L0.A.shape[1] - L0.bias_rows, "inputs")
        q = np.floor(np.abs(X) / self.in_scale + 0.5) * np.sign(X)
        return np.clip(q, -L0.amax, L0.amax).astype(np.int64).T

    def macs_per_inference(self) -> int:
        return int(sum(np.count_nonzero(L.A) for L in self.layers))

    def chain_layers(self) -> list:
        """The layers as a resident chain (:meth:`zerohero.runtime.Runtime.load`): each
        hidden layer requantized on the chip into the next one's inputs, its bias rows the
        next layer's constant inputs."""
        from zerohero.firmware.resident import ChainLayer, Requant

        return [ChainLayer(L.A, L.relu, [L.amax] * L.bias_rows,
                           Requant(L.mult, L.shift, 0, 0, L.next_amax) if L.relu else None)
                for L in self.layers]

    def max_batch(self) -> int:
        """Images per program that fit every lane's vector bank (B, then the results)."""
        cfg = self.cfg
        return max(1, min(cfg.spm_depth // (L.A.shape[1] + L.A.shape[0]) for L in self.layers))


def _scale(top: float, levels: int, what: str, i: int) -> float:
    """``top / levels``, the quantization scale of ``what`` in layer ``i``, if it is a positive
    normal number: 0 divides by zero, and a subnormal scale has too few bits to keep
    ``round(v / scale)`` within the levels."""
    scale = top / levels
    if not np.finfo(np.float64).tiny <= scale < math.inf:
        raise ValueError(f"layer {i}: {what} reach {top:g}, which gives the scale {top:g} / "
                         f"{levels} = {scale:g}: a scale must be a positive normal number "
                         "(rescale them)")
    return scale


def _calibration_max(net: MLP, X, i) -> float:
    """The largest input magnitude of layer ``i`` on the calibration set: the first layer's
    inputs have either sign (a symmetric scale), the others are ReLU outputs (>= 0)."""
    m = float(np.max(net.forward(X, upto=i))) if i else float(np.max(np.abs(X)))
    if m <= 0:
        raise ValueError(f"layer {i}: its inputs are never {'positive' if i else 'nonzero'} "
                         "on the calibration set, so no activation scale can be chosen")
    return m


WEIGHT_SCALES = ("tensor", "channel")


def quantize(net: MLP, cfg: AccelConfig, calibration, sparsity, pattern,
             weight_scales: str = "tensor") -> CompiledNetwork:
    """Symmetric quantization of a (pruned) float network (see the module doc): one weight
    scale a layer (``tensor``), or one an output channel of every hidden layer
    (``channel``: each row its own requantization multiplier and shift, which the result
    stage and the host take per row; the last layer keeps one scale, so that its integer
    logits compare across classes)."""
    if weight_scales not in WEIGHT_SCALES:
        raise ValueError(f"weight_scales must be one of {', '.join(WEIGHT_SCALES)}, not "
                         f"{weight_scales!r}")
    vmax = cfg.value_max
    layers = []
    last = len(net.weights) - 1
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        wmax = float(np.max(np.abs(W)))
        if wmax == 0:
            raise ValueError(f"layer {i}: every weight is zero")
        w_scale = _scale(wmax, vmax, f"the weights of W{i}", i)
        a_range = _calibration_max(net, calibration, i)
        if weight_scales == "channel" and i < last:
            # A channel's scale covers its weights and its bias, the weight of the constant
            # input a_range (a channel of tiny weights beside a larger bias would otherwise
            # need a bias no accumulator holds); an all-zero channel keeps the layer's scale.
            top = np.maximum(np.max(np.abs(W), axis=0), np.abs(b) / a_range)
            w_scale = np.array([_scale(t, vmax, f"the weights of W{i}[:, {j}]", i) if t else
                                w_scale for j, t in enumerate(top)])
        Wq = np.floor(np.abs(W) / w_scale + 0.5) * np.sign(W)
        Wq = Wq.astype(np.int64).T                                       # out x in
        # The finest activation scale (amax = vmax); every coarser one is positive normal too.
        _scale(a_range, vmax, "its inputs on the calibration set", i)
        # Bias in units of (w_scale * a_range): the weight of a constant input a_range. One
        # division at a time, so that a huge quotient is inf (refused below), not 0 / 0.
        with np.errstate(over="ignore"):
            bq = np.floor(np.abs(b) / a_range / w_scale + 0.5) * np.sign(b)
        # The bias columns of a row sum to |bq| in magnitude, so beyond acc_max / MIN_LEVELS
        # no amax of MIN_LEVELS levels keeps that row in the accumulator, whatever the weights.
        k = int(np.argmax(np.abs(bq)))
        if abs(bq[k]) > cfg.acc_max // MIN_LEVELS:
            ws = float(np.broadcast_to(w_scale, b.shape)[k])
            raise ValueError(f"layer {i}: bias b{i}[{k}] = {b[k]:g} is {abs(bq[k]):.3g} units of "
                             f"weight scale x input range ({ws:.3g} x {a_range:.3g}), more "
                             f"than the {cfg.acc_max // MIN_LEVELS} a {cfg.acc_width}-bit "
                             f"accumulator holds with {MIN_LEVELS} activation levels: the bias "
                             "dwarfs every product, so quantizing the layer is meaningless")
        bq = bq.astype(np.int64)
        rows = max(1, math.ceil(int(np.max(np.abs(bq))) / vmax))
        cols = np.stack([(bq + k) // rows for k in range(rows)], axis=1)   # sums to bq
        A = np.hstack([Wq, cols])
        rowsum = int(np.max(np.abs(A).sum(axis=1)))
        amax = min(vmax, cfg.acc_max // max(rowsum, 1))
        if amax < MIN_LEVELS:
            raise ValueError(f"layer {i}: {W.shape[0]} inputs of {cfg.value_width}-bit weights "
                             f"leave only {amax} activation levels in a {cfg.acc_width}-bit "
                             f"accumulator (at least {MIN_LEVELS} needed)")
        layers.append(QuantLayer(A, amax, rows, i < last, w_scale, a_range / amax))
    for L, nxt in zip(layers, layers[1:]):
        ratios = np.atleast_1d(L.w_scale * L.a_scale / nxt.a_scale)
        mults, shifts = [], []
        for ratio in ratios.tolist():
            shift = MULT_BITS - 1 - math.floor(math.log2(ratio))
            mult = round(ratio * 2 ** shift)
            if mult >= 1 << MULT_BITS:
                mult, shift = round(ratio * 2 ** (shift - 1)), shift - 1
            if shift < 1:
                raise ValueError(f"layer {layers.index(L)}: requantization ratio {ratio:g} is "
                                 "too large (activation scales too far apart)")
            mults.append(mult)
            shifts.append(shift)
        per_row = np.ndim(L.w_scale) > 0
        L.mult = np.array(mults) if per_row else mults[0]
        L.shift = np.array(shifts) if per_row else shifts[0]
        L.next_amax = nxt.amax
    return CompiledNetwork(cfg, layers, layers[0].a_scale, sparsity, pattern, net,
                           weight_scales)


def compile_network(net: MLP, config="sim-small", sparsity=None, pattern="unstructured",
                    calibration=None, train_data=None, finetune_epochs=None, seed=0,
                    weight_scales="tensor"):
    """Prune (+ masked fine-tuning), quantize and compile ``net`` for ``config``.

    ``net``: an :class:`MLP`, a scikit-learn ``MLPClassifier``, an ONNX model (a ``.onnx``
    path, an ``onnx.ModelProto`` or a :class:`zerohero.frontend.OnnxNetwork`);
    ``calibration``: real inputs for the activation scales (default digits images 0-1399);
    ``train_data``: ``(X, y)`` for fine-tuning (default the same digits images, and only
    when ``calibration`` is the default too: fine-tuning another model's data on digits
    would be a silent mistake, so that is an error);
    ``finetune_epochs``: default :data:`DEFAULT_FINETUNE_EPOCHS` when pruning, 0 disables;
    ``weight_scales``: ``tensor`` (one a layer) or ``channel`` (one an output channel,
    :func:`quantize`).
    """
    cfg = preset(config) if isinstance(config, str) else config
    net = as_mlp(net)
    s = resolve_sparsity(sparsity, pattern)
    pruning = s > 0 or parse_pattern(pattern) is not None
    epochs = DEFAULT_FINETUNE_EPOCHS if finetune_epochs is None else finetune_epochs
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"finetune_epochs must be an integer >= 0, not {epochs!r}")
    if train_data is None and pruning and epochs and calibration is not None:
        raise ValueError("pruning with fine-tuning needs train_data (inputs and labels; "
                         "X_train and y_train of a --data file), or finetune_epochs=0")
    if calibration is None:
        Xtr, ytr, _, _ = load_digits_split()
        calibration = Xtr
        train_data = (Xtr, ytr) if train_data is None else train_data
    total = sum(W.size for W in net.weights)
    if pruning:
        pruned, masks = prune(net, s, pattern)
        net = finetune(pruned, masks, *(train_data or (None, None)), epochs=epochs, seed=seed)
    # Against the network as given: removed channels count as pruned weights.
    zeros = 1 - sum(int(np.count_nonzero(W)) for W in net.weights) / total
    if np.asarray(calibration).ndim != 2 or np.asarray(calibration).shape[1] != net.sizes[0]:
        raise ValueError(f"calibration: expected images of {net.sizes[0]} inputs, not shape "
                         f"{np.asarray(calibration).shape}")
    return quantize(net, cfg, np.asarray(calibration, dtype=np.float64), zeros, pattern,
                    weight_scales)


def as_mlp(net) -> MLP:
    """The :class:`MLP` of ``net``: an MLP, a fitted ``MLPClassifier``, or an ONNX model (a
    ``.onnx`` path, an ``onnx.ModelProto``, an :class:`~zerohero.frontend.OnnxNetwork`)."""
    if isinstance(net, MLP):
        return net
    if hasattr(net, "coefs_"):
        return MLP.from_sklearn(net)
    if isinstance(net, (str, Path)) and str(net).lower().endswith(".onnx") or \
            type(net).__name__ == "ModelProto":
        from zerohero.frontend import load_onnx

        net = load_onnx(net)
    if hasattr(net, "mlp") and isinstance(net.mlp, MLP):
        return net.mlp
    raise ValueError(f"compile: expected an MLP, an MLPClassifier or an ONNX model, not "
                     f"{type(net).__name__}")


# Inference -------------------------------------------------------------------------------

def golden_infer(net: CompiledNetwork, X) -> np.ndarray:
    """THE integer inference: integer logits (batch x classes) of real images ``X``, on the
    golden model's naive kernels and the host requantization."""
    sem = model.IntSemantics.from_config(net.cfg)
    a = net.quantize_input(X)
    for L in net.layers:
        acc = model.spmm(L.csr, L.operand(a), sem, relu=L.relu)
        a = L.next(acc) if L.relu else acc
    return a.T


def check_fits(acc, nets, images):
    """``ValueError`` naming the layer if a layer's program does not fit the configuration
    (widths, scratchpad, coordinates, firmware) for batches of up to ``images`` images."""
    from zerohero.firmware.scheduler import plan_rowwise

    for net, kernel in nets:
        for i, L in enumerate(net.layers):
            Aop = L.csr if kernel == "spmm" else model.Dense(L.A)
            batch = max(1, min(net.max_batch(), images))
            try:
                acc.sem.check_values(L.A, "A")
                plan_rowwise(acc.cfg, kernel, Aop, np.ones((L.A.shape[1], batch), np.int64))
            except ValueError as e:
                raise ValueError(f"layer {i} ({'dense' if kernel == 'gemm' else 'sparse'}): "
                                 f"{e}") from None


def run_network(acc, nets, X, progress=None):
    """Run compiled networks on a :class:`~zerohero.runtime.Runtime`, ``nets`` a list of
    ``(CompiledNetwork, kernel)`` with kernel ``"spmm"`` (sparse) or ``"gemm"`` (dense mode).

    Every layer is one SpMM/GEMM per batch of images (as many as fit the vector banks), with
    the same host requantization as :func:`golden_infer`. Returns per network
    ``(integer logits, stats)`` with stats summed over layers and batches.
    """
    progress = progress or (lambda message: None)
    X = np.asarray(X, dtype=np.float64)
    check_fits(acc, nets, len(X))
    out = []
    for net, kernel in nets:
        batch = net.max_batch()
        logits = []
        tot = {"cycles": 0, "useful_macs": 0, "macs": 0, "zeros_skipped": 0, "programs": 0,
               "overflows": 0, "end_to_end_cycles": 0, "host_words_out": 0, "host_words_in": 0}
        for s in range(0, len(X), batch):
            a = net.quantize_input(X[s:s + batch])
            for i, L in enumerate(net.layers):
                progress(f"{kernel} layer {i} ({L.A.shape[0]}x{L.A.shape[1]}) on images "
                         f"{s}-{s + a.shape[1] - 1}")
                Aop = L.csr if kernel == "spmm" else L.A
                res, st = getattr(acc, kernel)(Aop, L.operand(a), relu=L.relu)
                tot["programs"] += 1
                for k in ("cycles", "zeros_skipped", "end_to_end_cycles"):
                    tot[k] = None if st[k] is None or tot[k] is None else tot[k] + st[k]
                for k in ("host_words_out", "host_words_in"):
                    tot[k] += st[k]
                tot["macs"] += st["macs"]
                tot["overflows"] += st["overflows"]
                tot["useful_macs"] += st.get("useful_macs", st["macs"])
                a = L.next(res) if L.relu else res
            logits.append(a.T)
        out.append((np.vstack(logits), tot))
    return out


def accuracy(logits, y, onnx=None) -> float:
    """The fraction of labels ``y`` the logits predict (through ``onnx``'s label table)."""
    pred = np.argmax(logits, axis=1) if onnx is None else onnx.labels(logits)
    return float(np.mean(pred == np.asarray(y)))


def evaluate(float_model: MLP, sparse: CompiledNetwork, dense: CompiledNetwork, X, y,
             backend="model", rtl_images=32, progress=None, onnx=None,
             **backend_options) -> dict:
    """The report of one compiled network: accuracies on every image of ``X`` (golden model),
    cycles from the backend on the first ``rtl_images`` images, bit-exactness.
    ``onnx``: the :class:`~zerohero.frontend.OnnxNetwork` the network came from: labels are
    its own (its label table), and ``accuracy_float`` is the ONNX model's, run by ONNX's
    reference evaluator. ``backend_options``: the board backend's (``port``, ...)."""
    from zerohero.runtime import Runtime

    cfg = sparse.cfg
    progress = progress or (lambda message: None)
    n = len(X) if backend == "model" else min(rtl_images, len(X))
    acc = Runtime(cfg, backend, progress=progress, **backend_options)
    check_fits(acc, [(sparse, "spmm"), (dense, "gemm")], n)
    progress(f"golden model: {len(X)} images, float / quantized dense / quantized sparse")
    gold_sparse = golden_infer(sparse, X)
    gold_dense = golden_infer(dense, X)
    r = {
        "config": cfg.name, "backend": backend,
        "layers": list(float_model.sizes),
        "layers_pruned": list(sparse.float_model.sizes),     # channel pruning shrinks them
        "sparsity": round(sparse.sparsity, 4), "pattern": sparse.pattern,
        "weight_scales": sparse.weight_scales,
        "test_images": len(X),
        "accuracy_float": (accuracy(float_model.forward(X), y) if onnx is None else
                           float(np.mean(onnx.reference_labels(X) == np.asarray(y)))),
        "accuracy_quantized_dense": accuracy(gold_dense, y, onnx),
        "accuracy_sparse": accuracy(gold_sparse, y, onnx),
        "accuracy_sparse_float": accuracy(sparse.float_model.forward(X), y, onnx),
        "macs_per_inference": sparse.macs_per_inference(),
        "dense_macs_per_inference": dense.macs_per_inference(),
    }
    (got_s, st_s), (got_d, st_d) = run_network(acc, [(sparse, "spmm"), (dense, "gemm")], X[:n],
                                               progress)
    exact = bool(np.array_equal(got_s, gold_sparse[:n]) and np.array_equal(got_d, gold_dense[:n]))
    resident = None
    if cfg.result_stage:
        # The same sparse network resident: loaded once, every layer of a batch in one program,
        # requantized on the chip (the runs above requantize on the host between layers).
        progress(f"resident: the sparse network loaded once, {n} images")
        got_r, st_r = acc.load(sparse).infer(X[:n])
        exact = exact and bool(np.array_equal(got_r, gold_sparse[:n]))
        per, loaded = st_r["per_inference"], st_r["resident_load"]
        resident = {
            "batch": st_r["batch"],
            "runtime_calls_per_inference": st_r["batches"] / n,
            "cycles_per_inference": per["compute_cycles"],
            "end_to_end_cycles_per_inference": per["end_to_end_cycles"],
            "host_words_out_per_inference": per["host_words_out"],
            "host_words_in_per_inference": per["host_words_in"],
            # The one-time load (weights, tables, constants, firmware); None when a board
            # already held them.
            "load_host_words": loaded and loaded["host_words_out"],
            "load_cycles": loaded and loaded["cycles"],
            "overflows": st_r["overflows"],
        }
    cyc = st_s["cycles"] / n if st_s["cycles"] is not None else None
    dcyc = st_d["cycles"] / n if st_d["cycles"] is not None else None
    r.update({
        "images_on_backend": n,
        "batch": sparse.max_batch(),
        "cycles_per_inference": cyc,
        "dense_cycles_per_inference": dcyc,
        "speedup_vs_dense": dcyc / cyc if cyc else None,
        # The system as a user meets it: every layer a runtime call per batch, its weights
        # written and its results read back each time (host requantization between).
        "end_to_end_cycles_per_inference": (st_s["end_to_end_cycles"] / n
                                            if st_s["end_to_end_cycles"] is not None else None),
        "host_words_out_per_inference": st_s["host_words_out"] / n,
        "host_words_in_per_inference": st_s["host_words_in"] / n,
        "runtime_calls_per_inference": st_s["programs"] / n,
        "ideal_cycles_per_inference": st_s["useful_macs"] / n / cfg.lanes,
        "utilization": (st_s["useful_macs"] / (cfg.lanes * st_s["cycles"])
                        if st_s["cycles"] else None),
        "macs_skipped_per_inference": (st_s["zeros_skipped"] / n
                                       if st_s["zeros_skipped"] is not None else None),
        "macs_issued_per_inference": st_s["macs"] / n,
        "bit_exact": exact,
        # Results the accumulator wrapped or saturated: the compiler's activation bound
        # (amax) keeps every sum in range, so anything but 0 is a compiler bug.
        "overflows": (st_s["overflows"] + st_d["overflows"]
                      + (resident["overflows"] if resident else 0)),
        "compared_on": ("hardware vs golden model" if backend != "model" else
                        "golden model vs itself through the runtime"),
        # The sparse network resident on the chip (configurations with the result stage).
        "resident": resident,
    })
    return r


# Command line: zerohero nn train|compile|run ----------------------------------------------

def add_parser(sub, func):
    """The ``nn`` verb and its options (called from :mod:`zerohero.cli`)."""
    from zerohero.spec.config import PRESETS

    p = sub.add_parser("nn", help="neural networks: train, prune, quantize, compile, run",
                       description="Digits MLP (or --model FILE.onnx / FILE.npz, on --data "
                       "FILE.npz) pruned, quantized and run on the accelerator; inspect prints "
                       "an ONNX model's mapping. Exit status: 0 ok, 1 RTL differs from the "
                       "golden model, 2 bad input.")
    p.add_argument("action", choices=["train", "compile", "run", "inspect"])
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="inspect: the model (.onnx or .npz; the same as --model)")
    p.add_argument("--model", metavar="FILE",
                   help="float model: .onnx, or .npz of W0,b0,W1,b1,... (default: train the "
                   "digits MLP)")
    p.add_argument("--data", metavar="FILE.npz",
                   help="data set: X, y (test inputs and labels), optional X_calib "
                   "(calibration) and X_train, y_train (fine-tuning); default digits")
    p.add_argument("--out", metavar="FILE.npz",
                   help="train: where to save the model (default build/nn/digits.npz); "
                   "compile: the compiled network; a .npz name, written as given")
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                   help="train: layer sizes (default %(default)s)")
    p.add_argument("--epochs", type=int, default=DEFAULT_TRAIN_EPOCHS,
                   help="train: epochs (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="training/fine-tuning seed")
    p.add_argument("--sparsity", type=float, help="fraction of weights pruned, in [0, 1)")
    p.add_argument("--pattern", default="unstructured",
                   help="unstructured (default), N:M, or channel (whole hidden channels "
                   "removed, the next layer shrinking with them)")
    p.add_argument("--weight-scales", choices=WEIGHT_SCALES, default="tensor",
                   help="one weight scale a layer (tensor, default) or an output channel of "
                   "every hidden layer (channel: requantized per row)")
    p.add_argument("--finetune-epochs", type=int, default=None,
                   help=f"masked fine-tuning after pruning (default {DEFAULT_FINETUNE_EPOCHS}; "
                   "0 disables)")
    p.add_argument("--config", help=f"preset: {', '.join(PRESETS)} (default sim-small, or "
                   "the board's)")
    p.add_argument("--sim", default="verilator", choices=["model", "verilator", "icarus"])
    p.add_argument("--board", help="run on an FPGA board over its UART (with --port)")
    p.add_argument("--port", help="serial device of --board, e.g. /dev/ttyUSB1")
    p.add_argument("--rtl-images", type=int, default=32,
                   help="test images run on the simulated hardware (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=func)
    return p


def load_model(path):
    """The model of the file ``path``: an ``.onnx`` through the ONNX front end (an
    :class:`~zerohero.frontend.OnnxNetwork`), anything else as an ``.npz`` :class:`MLP`."""
    if str(path).lower().endswith(".onnx"):
        from zerohero.frontend import load_onnx

        return load_onnx(path)
    return MLP.load(path)


def inspect_rows(model) -> list:
    """One row per node of an ONNX model (per layer of an MLP): name, op, mapping, layer,
    and the MACs a layer costs per input, dense and sparse (nonzero weights)."""
    from zerohero.frontend import NodeMap

    net = as_mlp(model)
    nodes = getattr(model, "nodes", None) or [
        NodeMap(f"layer{i}", "dense", "accelerator", i, f"{W.shape[0]} x {W.shape[1]}")
        for i, W in enumerate(net.weights)]
    rows = []
    for n in nodes:
        row = {"name": n.name, "op": n.op, "mapping": n.mapping, "layer": n.layer,
               "detail": n.detail}
        if n.mapping == "accelerator":
            W = net.weights[n.layer]
            row.update(macs_dense=int(W.size), macs_sparse=int(np.count_nonzero(W)))
        rows.append(row)
    return rows


def _inspect(model, path, as_json) -> int:
    import json

    rows = inspect_rows(model)
    if as_json:
        print(json.dumps({"model": str(path), "nodes": rows}))
        return 0
    width = max(len(r["name"] or "") for r in rows)
    print(f"{path}: {len(rows)} nodes")
    for r in rows:
        macs = (f"  {r['macs_dense']} MACs dense, {r['macs_sparse']} sparse"
                if "macs_dense" in r else "")
        layer = f" (layer {r['layer']})" if r["layer"] is not None else ""
        print(f"  {r['name'] or '(unnamed)':{width}s}  {r['op']:22s} {r['mapping']}{layer}"
              f"{': ' + r['detail'] if r['detail'] else ''}{macs}")
    dense = sum(r.get("macs_dense", 0) for r in rows)
    sparse = sum(r.get("macs_sparse", 0) for r in rows)
    print(f"  per input: {dense} MACs dense, {sparse} sparse ({1 - sparse / dense:.1%} of the "
          "weights are zero)")
    return 0


def _datasets(args, model):
    """``(X_train, y_train, X_calib, X_test, y_test)`` of ``--data`` (digits without it),
    inputs flattened as the model takes them; ``X_train`` / ``y_train`` None when the file
    has none."""
    if not args.data:
        Xtr, ytr, Xte, yte = load_digits_split()
        return Xtr, ytr, Xtr, Xte, yte
    d = load_data(args.data)
    flat = getattr(model, "flatten", None)
    with _about(args.data):
        for k in ("X", "X_calib", "X_train"):
            if k in d and flat is not None:
                d[k] = flat(d[k], k)
            elif k in d:
                d[k] = d[k].reshape(len(d[k]), -1)
    cal = d.get("X_calib", d.get("X_train", d["X"]))
    return d.get("X_train"), d.get("y_train"), cal, d["X"], d["y"]


def _load_or_train(args, progress):
    if args.model:
        return load_model(args.model)
    try:
        sizes = tuple(int(v) for v in args.sizes.split(","))
    except ValueError:
        raise ValueError(f"--sizes must be comma-separated integers, not {args.sizes!r}") from None
    if len(sizes) < 2 or sizes[0] != 64 or sizes[-1] != 10 or min(sizes) < 1:
        raise ValueError(f"--sizes for digits must start with 64 inputs and end with 10 classes, "
                         f"not {args.sizes!r}")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, not {args.epochs}")
    progress(f"training a {'-'.join(map(str, sizes))} MLP on digits 0-1399 "
             f"({args.epochs} epochs, seed {args.seed})")
    return train(sizes, epochs=args.epochs, seed=args.seed)


def _save_compiled(net: CompiledNetwork, file):
    arrays = {"in_scale": np.array(net.in_scale)}
    for i, L in enumerate(net.layers):
        arrays[f"A{i}"] = L.A
        arrays[f"layer{i}"] = np.array([L.amax, L.bias_rows, int(L.relu), L.next_amax])
        arrays[f"mult{i}"], arrays[f"shift{i}"] = np.atleast_1d(L.mult), np.atleast_1d(L.shift)
    np.savez(file, **arrays)


def nn_command(args) -> int:
    import json
    import sys

    from zerohero import outputs
    from zerohero.run_command import backend_options, resolve_board

    progress = (lambda m: None) if args.quiet else (
        lambda m: print(f"[nn] {m}", file=sys.stderr, flush=True))
    board = resolve_board(args.board, args.port)
    if args.rtl_images < 1:
        raise ValueError(f"--rtl-images must be at least 1, not {args.rtl_images}")
    if args.finetune_epochs is not None and args.finetune_epochs < 0:
        raise ValueError(f"--finetune-epochs must be >= 0, not {args.finetune_epochs}")
    if args.file and args.action != "inspect":
        raise ValueError(f"nn {args.action} takes the model as --model FILE, not {args.file!r}")
    if args.action == "inspect":
        path = args.file or args.model
        if not path or (args.file and args.model):
            raise ValueError("nn inspect takes one model: nn inspect FILE.onnx (or --model)")
        return _inspect(load_model(path), path, args.json)
    if args.action == "train" and (args.model or args.data):
        raise ValueError("nn train trains the digits MLP; --model and --data are for nn "
                         "compile and nn run")
    cfg = preset(args.config or (board.config if board else "sim-small"))
    options = backend_options(board, args.port, cfg.name)   # before anything slow
    resolve_sparsity(args.sparsity, args.pattern)
    if args.out and args.action == "run":
        raise ValueError("--out applies to nn train and nn compile; nn run writes no file")
    # Checked before training or compiling, which take a while.
    out = outputs.check("--out", args.out or ("build/nn/digits.npz" if args.action == "train"
                                              else None), (".npz",),
                        {"--model": args.model, "--data": args.data})
    model = _load_or_train(args, progress)
    net = as_mlp(model)
    onnx = model if net is not model else None
    Xtr, ytr, Xcal, Xte, yte = _datasets(args, model)
    if args.action == "train":
        outputs.write(out, net.save)
        r = {"model": str(out.path), "layers": list(net.sizes),
             "accuracy_float": accuracy(net.forward(Xte), yte)}
        print(json.dumps(r) if args.json else
              f"wrote {out.path}: {'-'.join(map(str, net.sizes))} MLP, test accuracy "
              f"{r['accuracy_float']:.2%} on digits 1400+")
        return 0
    data = args.data or "the digits data"
    with _about(args.model):    # errors about the model name its file
        if net.sizes[0] != Xte.shape[1]:
            raise ValueError(f"layer 0: the model has {net.sizes[0]} inputs but the inputs of "
                             f"{data} have {Xte.shape[1]}")
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.isfinite(net.forward(Xcal)).all()
        if not finite:
            raise ValueError(f"the float network's outputs on {data} are not finite (its "
                             "products overflow float64, or the inputs are not finite)")
        known = np.arange(net.sizes[-1]) if onnx is None or onnx.classes is None \
            else onnx.classes
        for name, labels in (("y", yte), ("y_train", ytr)):
            stray = np.setdiff1d(labels, known) if labels is not None else []
            if len(stray):
                raise ValueError(f"{data}: {name} holds the label {stray[0]}, which the model "
                                 f"never predicts (its {net.sizes[-1]} outputs are the labels "
                                 f"{_labels_text(known)})")
        pruning = resolve_sparsity(args.sparsity, args.pattern) > 0 or \
            parse_pattern(args.pattern) is not None
        if pruning and Xtr is None and args.finetune_epochs != 0:
            raise ValueError(f"{args.data}: pruning fine-tunes on X_train and y_train, which "
                             "the file does not hold: add them, or give --finetune-epochs 0")
        progress(f"pruning ({args.pattern}, sparsity {args.sparsity}), fine-tuning, quantizing")
        sparse = compile_network(net, cfg, args.sparsity, args.pattern, calibration=Xcal,
                                 train_data=None if Xtr is None else (Xtr, ytr),
                                 finetune_epochs=args.finetune_epochs, seed=args.seed,
                                 weight_scales=args.weight_scales)
    if args.action == "compile":
        from zerohero.runtime import Runtime

        with _about(args.model):            # a network the configuration cannot hold
            check_fits(Runtime(cfg, "model"), [(sparse, "spmm")], sparse.max_batch())
        rows = [{"layer": i, "A": list(L.A.shape), "nnz": int(np.count_nonzero(L.A)),
                 "amax": L.amax, "bias_rows": L.bias_rows, "relu": L.relu,
                 "requant": [np.asarray(L.mult).tolist(), np.asarray(L.shift).tolist()]
                 if L.relu else None}
                for i, L in enumerate(sparse.layers)]
        r = {"config": cfg.name, "sparsity": sparse.sparsity, "pattern": sparse.pattern,
             "layers": rows}
        if out:
            outputs.write(out, lambda f: _save_compiled(sparse, f))
            r["out"] = args.out
        if args.json:
            print(json.dumps(r))
            return 0
        print(f"compiled for {cfg.name}: sparsity {sparse.sparsity:.3f} ({sparse.pattern})")
        for row in rows:
            print(f"  layer {row['layer']}: A {row['A'][0]}x{row['A'][1]} ({row['nnz']} nonzeros, "
                  f"{row['bias_rows']} bias column), activations in [0, {row['amax']}], "
                  + (f"ReLU, requantized: * {_span(row['requant'][0])} >> "
                     f"{_span(row['requant'][1])} "
                     + ("(on the chip when resident)" if cfg.result_stage else "(on the host)")
                     if row["relu"] else "logits"))
        if args.out:
            print(f"wrote {args.out}")
        return 0
    dense = compile_network(net, cfg, 0.0, calibration=Xcal, weight_scales=args.weight_scales)
    with _about(args.model):            # a layer that does not fit names the model
        r = evaluate(net, sparse, dense, Xte, yte, "board" if board else args.sim,
                     args.rtl_images, progress, onnx, **options)
    if args.json:
        print(json.dumps(r))
    else:
        print(report(r))
    if r["overflows"]:
        print(f"zerohero: error: {r['overflows']} layer results overflowed the "
              f"{cfg.acc_width}-bit accumulator, which the compiler's bound rules out: a bug "
              "in zerohero", file=sys.stderr)
    return 0 if r["bit_exact"] and not r["overflows"] else 1


def _span(v) -> str:
    """An integer, or a list of them as ``lo..hi per row``."""
    return str(v) if not isinstance(v, list) else f"{min(v)}..{max(v)} per row"


def _labels_text(labels) -> str:
    labels = list(np.asarray(labels).tolist())
    return ", ".join(map(str, labels)) if len(labels) <= 12 else \
        f"{', '.join(map(str, labels[:10]))}, ... ({len(labels)} in all)"


def _fmt(v):
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def report(r: dict) -> str:
    flat = {}
    for k, v in r.items():
        if isinstance(v, dict):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    width = max(map(len, flat))
    return "\n".join(f"  {k:{width}s}  {_fmt(v)}" for k, v in flat.items())


def demo_digits(sim="verilator", config="sim-small", sparsity=0.8, rtl_images=8, out=None):
    """The digits network in ``make demo``: a short RTL run, checked bit-exactly."""
    import sys

    out = out or sys.stdout
    print(f"\n  digits MLP {'-'.join(map(str, DEFAULT_SIZES))}: training, pruning to "
          f"{sparsity:.0%} with fine-tuning, quantizing; {rtl_images} test images on {sim}...",
          file=out, flush=True)
    Xtr, ytr, Xte, yte = load_digits_split()
    net = train()
    sparse = compile_network(net, config, sparsity)
    dense = compile_network(net, config, 0.0)
    r = evaluate(net, sparse, dense, Xte, yte, sim, rtl_images)
    print(f"  accuracy on {r['test_images']} test images (golden model): float "
          f"{r['accuracy_float']:.2%}, quantized dense {r['accuracy_quantized_dense']:.2%}, "
          f"quantized {r['sparsity']:.0%} sparse {r['accuracy_sparse']:.2%}", file=out)
    print(f"  on the accelerator: {r['cycles_per_inference']:.0f} cycles/inference sparse, "
          f"{r['dense_cycles_per_inference']:.0f} dense -> {r['speedup_vs_dense']:.1f}x; "
          f"utilization {r['utilization']:.0%}; {r['macs_skipped_per_inference']:.0f} "
          f"zero-activation MACs skipped per inference", file=out)
    print(f"  end to end with the host bus: {r['end_to_end_cycles_per_inference']:.0f} "
          f"cycles/inference ({r['host_words_out_per_inference']:.0f} words written, "
          f"{r['host_words_in_per_inference']:.0f} read per inference: weights and "
          "activations cross the bus for every layer of every batch)", file=out)
    res = r["resident"]
    if res is not None:
        print(f"  resident (loaded once: {res['load_host_words']} words; every layer of a batch "
              f"of {res['batch']} in one program, requantized on the chip): "
              f"{res['cycles_per_inference']:.0f} compute, "
              f"{res['end_to_end_cycles_per_inference']:.0f} end-to-end cycles/inference "
              f"({res['host_words_out_per_inference']:.0f} words written, "
              f"{res['host_words_in_per_inference']:.0f} read per inference)", file=out)
    if not r["bit_exact"]:
        raise RuntimeError("digits network: the hardware's logits differ from the golden model")
    print(f"  the {r['images_on_backend']} images' logits match the golden model bit-exactly "
          f"(sparse and dense{', and resident' if res is not None else ''})", file=out)
    return r
