"""Golden model of the streaming units at the token level (naive on purpose).

Each function takes and returns lists of :class:`zerohero.spec.tokens.Token` and follows the
protocol of that module; the hardware must produce exactly these tokens, in this order.
"""

from __future__ import annotations

from zerohero.spec.tokens import DONE, check_stream, data, stop

__all__ = ["split_fibers", "intersect_tokens", "union_tokens", "mac_tokens", "counts"]


def split_fibers(tokens, where="stream"):
    """``[(data_tokens, stop_level), ...]`` of a checked stream, one entry per fiber."""
    check_stream(tokens, where)
    fibers, cur = [], []
    for t in tokens:
        if t.data:
            cur.append(t)
        if t.stop is not None:
            fibers.append((cur, t.stop))
            cur = []
    return fibers


def _join(a, b, keep_union):
    fa, fb = split_fibers(a, "a"), split_fibers(b, "b")
    if len(fa) != len(fb):
        raise ValueError(f"a has {len(fa)} fibers but b has {len(fb)}")
    out = []
    for (ta, la), (tb, lb) in zip(fa, fb):
        va = {t.crd: t.val[0] for t in ta}
        vb = {t.crd: t.val[0] for t in tb}
        if keep_union:
            crds = sorted(set(va) | set(vb))
        else:
            crds = sorted(set(va) & set(vb))
        lvl = max(la, lb)
        fiber = [data(c, va.get(c, 0), vb.get(c, 0), has=(c in va, c in vb)) for c in crds]
        if fiber:
            fiber[-1] = fiber[-1]._replace(stop=lvl)
            out.extend(fiber)
        else:
            out.append(stop(lvl))
    out.append(DONE)
    return out


def intersect_tokens(a, b):
    """Matched coordinates of fiber i of ``a`` and fiber i of ``b``, values ``(a, b)``."""
    return _join(a, b, keep_union=False)


def union_tokens(a, b):
    """All coordinates of either fiber; an absent side has value 0 and ``has`` False."""
    return _join(a, b, keep_union=True)


def mac_tokens(pairs, sem, relu=False):
    """What a PE lane emits for a two-operand stream: one result per fiber.

    The result of a fiber closed at level L is a data token with the fiber's index in its
    level-1 fiber as coordinate, riding a stop at level L - 1 when L >= 1.
    """
    out = []
    index = 0
    for fiber, lvl in split_fibers(pairs, "pairs"):
        acc = 0
        for t in fiber:
            a, b = t.val
            if all(t.has) and a != 0 and b != 0:
                acc = sem.acc_add(acc, a * b)
        if relu:
            acc = max(acc, 0)
        out.append(data(index, acc, stop=lvl - 1 if lvl >= 1 else None))
        index = 0 if lvl >= 1 else index + 1
    out.append(DONE)
    return out


def counts(pairs):
    """``(macs, zeros)`` a PE must report for a two-operand stream."""
    macs = zeros = 0
    for t in pairs:
        if t.data:
            if all(t.has) and all(v != 0 for v in t.val):
                macs += 1
            else:
                zeros += 1
    return macs, zeros


