"""Scratchpad images: where the scheduler puts operands (see :mod:`zerohero.hw.memory`)."""

from __future__ import annotations

from zerohero.spec.memory import pack_entry

__all__ = ["csr_words", "csr_image", "dense_image", "bitmap_image", "check_fits"]


def check_fits(cfg, what: str, base: int, words: int) -> None:
    if base < 0 or base + words > cfg.spm_depth:
        raise ValueError(f"{what}: {words} words at {base} do not fit a bank of "
                         f"{cfg.spm_depth} words")


def csr_words(cfg, A, rows=None, pad_to: int | None = None) -> tuple[list[int], list[int]]:
    """The scratchpad words of rows ``rows`` (default: all) of a CSR ``A`` (the golden model's
    :class:`~zerohero.model.CSR` or a scipy CSR; a scipy CSC gives its columns): ``pos``,
    relative to the first entry, and the packed entries, row after row; padded with empty rows
    up to ``pad_to`` rows."""
    if hasattr(A, "indptr"):
        ptr, crd, vals = A.indptr, A.indices, A.data
    else:
        ptr, crd, vals = A.pos, A.crd, A.vals
    rows = range(A.shape[0]) if rows is None else rows
    pos, entries = [0], []
    for r in rows:
        for k in range(ptr[r], ptr[r + 1]):
            entries.append(pack_entry(cfg, int(crd[k]), int(vals[k])))
        pos.append(len(entries))
    if pad_to is not None:
        pos += [len(entries)] * (pad_to + 1 - len(pos))
    return pos, entries


def csr_image(cfg, A, pos_base: int, crd_base: int) -> list[list[int]]:
    """``[[addr, word], ...]`` of a CSR operand: ``pos`` (relative to ``crd_base``) at
    ``pos_base`` and packed entries at ``crd_base``."""
    rows = A.shape[0]
    check_fits(cfg, "pos", pos_base, rows + 1)
    check_fits(cfg, "entries", crd_base, A.nnz)
    if A.shape[1] - 1 > cfg.coord_max:
        raise ValueError(f"{A.shape[1]} columns exceed coord_width {cfg.coord_width}")
    pos, entries = csr_words(cfg, A)
    return ([[pos_base + i, p] for i, p in enumerate(pos)]
            + [[crd_base + k, w] for k, w in enumerate(entries)])


def dense_image(cfg, array, base: int, stride: int | None = None) -> list[list[int]]:
    """``[[addr, word], ...]`` of a dense vector or row-major matrix (entries with ``crd`` =
    column) at ``base``, rows ``stride`` words apart."""
    import numpy as np

    a = np.atleast_2d(np.asarray(array))
    rows, cols = a.shape
    stride = cols if stride is None else stride
    check_fits(cfg, "dense", base, (rows - 1) * stride + cols if rows else 0)
    return [[base + r * stride + c, pack_entry(cfg, c, int(a[r, c]))]
            for r in range(rows) for c in range(cols)]


def bitmap_image(cfg, B, bitmap_base: int, val_base: int) -> list[list[int]]:
    """``[[addr, word], ...]`` of a Bitmap operand: ``ceil(cols / 32)`` presence words per row
    at ``bitmap_base`` (bit b of word w = column 32 w + b) and the values, row after row, as
    entries at ``val_base``."""
    from zerohero.spec.memory import BITMAP_BITS

    rows, cols = B.shape
    wpr = -(-cols // BITMAP_BITS)
    check_fits(cfg, "bitmap", bitmap_base, rows * wpr)
    check_fits(cfg, "values", val_base, len(B.vals))
    words, k = [], 0
    for r in range(rows):
        for w in range(wpr):
            bits = 0
            for b in range(BITMAP_BITS):
                c = w * BITMAP_BITS + b
                if c < cols and B.mask[r, c]:
                    bits |= 1 << b
            words.append([bitmap_base + r * wpr + w, bits])
    for r in range(rows):
        for c in range(cols):
            if B.mask[r, c]:
                words.append([val_base + k, pack_entry(cfg, c, int(B.vals[k]))])
                k += 1
    return words
