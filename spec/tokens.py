"""The token protocol, in plain Python: what every stream in zerohero carries.

A stream is a sequence of tokens (see :mod:`zerohero.hw.protocol` for the hardware layout,
which has one field per attribute here):

* a **data token** carries a coordinate ``crd`` and one value per operand ``val`` with a
  presence mask ``has`` (joined streams mark an absent operand of a union with 0);
* the **end of a fiber** at level ``L`` is the ``stop = L`` mark. On a non-empty fiber it rides
  on the fiber's last data token, so a fiber boundary costs no cycle. Only an empty fiber needs
  a token of its own: ``data = False, stop = L``. A stop at level L closes the open fibers of
  levels 0..L (level 0 = a row, level 1 = a matrix);
* **done** (a token of its own) ends the stream.

A 3-row matrix with rows ``[(0, 5), (2, 7)]``, ``[]``, ``[(1, 3)]`` is the 5-token stream::

    D(0, 5)  D(2, 7, stop=0)  S(0)  D(1, 3, stop=1)  DONE

On a port, a token is the fields of :func:`token_fields` (the hardware's ``TokenLayout``):

========  ==============================  ==============================================
field     bits                            meaning
========  ==============================  ==============================================
``crd``   ``coord_width``                 coordinate of a data token
``val``   ``value_width`` x operands      operand values, signed
``has``   operands                        operand present (unions mark the absent side 0)
``data``  1                               ``crd``/``val`` are meaningful
``stop``  1                               this token ends a fiber at level ``lvl``
``lvl``   ``level_width``                 level of the stop
``done``  1                               end of stream (``data = stop = 0``)
========  ==============================  ==============================================

This module has no Amaranth dependency: it is shared by the golden model, the hardware's
layouts, the cocotb drivers and the host runtime.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

__all__ = ["Token", "TokenField", "token_fields", "data", "stop", "DONE", "encode_fibers",
           "decode_fibers", "matrix_row_tokens", "check_stream"]


class TokenField(NamedTuple):
    width: int
    signed: bool = False
    #: Elements of an array field (the operand values), ``None`` for a plain field.
    count: int | None = None


def token_fields(cfg, operands: int = 1, value_width: int | None = None) -> dict:
    """The fields of a token on a port, lowest bits first (``name -> TokenField``)."""
    vw = cfg.value_width if value_width is None else value_width
    return {"crd": TokenField(cfg.coord_width), "val": TokenField(vw, True, operands),
            "has": TokenField(operands), "data": TokenField(1), "stop": TokenField(1),
            "lvl": TokenField(cfg.level_width), "done": TokenField(1)}


class Token(NamedTuple):
    crd: int = 0
    val: tuple = ()
    has: tuple = ()
    data: bool = False
    stop: int | None = None
    done: bool = False

    def __repr__(self):
        if self.done:
            return "DONE"
        if not self.data:
            return f"S({self.stop})"
        s = "" if self.stop is None else f", stop={self.stop}"
        vals = ", ".join(str(v) if h else "-" for v, h in zip(self.val, self.has))
        return f"D({self.crd}, {vals}{s})"


def data(crd, *vals, stop=None, has=None) -> Token:
    """A data token; ``has`` defaults to every operand present."""
    vals = tuple(int(v) for v in vals)
    has = tuple(bool(h) for h in has) if has is not None else (True,) * len(vals)
    return Token(int(crd), vals, has, True, stop, False)


def stop(level: int) -> Token:
    """A stop token of its own: an empty fiber at ``level``."""
    return Token(stop=int(level))


DONE = Token(done=True)


def encode_fibers(fibers: Sequence[Sequence[tuple]], level: int = 1) -> list[Token]:
    """Tokens of a sequence of level-0 fibers closed by one level-``level`` stop, then DONE.

    Each fiber is a sequence of ``(crd, val, ...)`` tuples in increasing coordinate order.
    With ``level = 0`` there must be exactly one fiber.
    """
    if level == 0 and len(fibers) != 1:
        raise ValueError(f"a level-0 stream holds exactly one fiber, not {len(fibers)}")
    out = []
    for i, fiber in enumerate(fibers):
        lvl = level if i == len(fibers) - 1 else 0
        if not fiber:
            out.append(stop(lvl))
            continue
        for j, (crd, *vals) in enumerate(fiber):
            out.append(data(crd, *vals, stop=lvl if j == len(fiber) - 1 else None))
    if not fibers:
        out.append(stop(level))
    out.append(DONE)
    return out


def decode_fibers(tokens: Sequence[Token]) -> list[list[Token]]:
    """Split a checked stream into its level-0 fibers (lists of data tokens)."""
    check_stream(tokens)
    fibers, cur = [], []
    for t in tokens:
        if t.done:
            break
        if t.data:
            cur.append(t)
        if t.stop is not None:
            fibers.append(cur)
            cur = []
    return fibers


def matrix_row_tokens(pos, crd, vals, level: int = 1) -> list[Token]:
    """Stream of a CSR matrix (arrays ``pos``, ``crd``, ``vals``): one fiber per row."""
    rows = [[(int(crd[k]), int(vals[k])) for k in range(pos[i], pos[i + 1])]
            for i in range(len(pos) - 1)]
    return encode_fibers(rows, level)


def check_stream(tokens: Sequence[Token], where: str = "stream") -> None:
    """Raise ``ValueError`` unless ``tokens`` obey the protocol.

    Rules: coordinates strictly increase within a fiber; a stop-only token is an empty fiber
    (it never follows data tokens of the same fiber, which must carry the stop themselves);
    the stream ends with exactly one DONE after a stop.
    """
    open_fiber = False
    last_crd = None
    for i, t in enumerate(tokens):
        if t.done:
            if open_fiber:
                raise ValueError(f"{where}: DONE at token {i} inside an open fiber")
            if i != len(tokens) - 1:
                raise ValueError(f"{where}: tokens after DONE at token {i}")
            return
        if t.data:
            if last_crd is not None and t.crd <= last_crd:
                raise ValueError(f"{where}: token {i} coordinate {t.crd} not above {last_crd}")
            last_crd = t.crd
            open_fiber = t.stop is None
        else:
            if t.stop is None:
                raise ValueError(f"{where}: token {i} is neither data, stop nor done")
            if open_fiber:
                raise ValueError(f"{where}: stop-only token {i} closes a non-empty fiber; "
                                 "the stop must ride on the fiber's last data token")
        if t.stop is not None:
            last_crd = None
    raise ValueError(f"{where}: stream does not end with DONE")
