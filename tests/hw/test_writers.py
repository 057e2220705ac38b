"""Output writers: the words they write, against the golden model of the formats."""

import numpy as np
import pytest
from conftest import SCALE, unit_config

from zerohero.spec.memory import pack_entry
from zerohero.hw.scan import CompressedWriter, DenseWriter
from zerohero.sim.harness import build
from zerohero.model.streams import split_fibers
from zerohero.spec.tokens import encode_fibers
from zerohero.sim.units import StreamCodec


def result_streams(cfg, rng, count):
    lo, hi = cfg.acc_min, cfg.acc_max
    streams = [
        encode_fibers([]),                                          # no rows at all
        encode_fibers([[], [], []]),                                # only empty rows
        encode_fibers([[(0, 0), (3, 0)], [(1, 5)], [(2, 0)]]),      # rows that become empty
        encode_fibers([[(0, lo), (cfg.coord_max, hi)]]),            # extremes
    ]
    for _ in range(count):
        rows = []
        for _ in range(int(rng.integers(1, 12))):
            crd = np.sort(rng.choice(64, size=int(rng.integers(0, 10)), replace=False))
            vals = np.where(rng.random(len(crd)) < 0.3, 0, rng.integers(lo, hi, len(crd)))
            rows.append([(int(c), int(v)) for c, v in zip(crd, vals)])
        streams.append(encode_fibers(rows))
    return streams


def compressed_image(cfg, tokens, pos_base, crd_base, drop_zeros):
    """What the writer must leave in memory: pos at pos_base, entries at crd_base."""
    pos, entries = {pos_base: 0}, {}
    nnz = 0
    for r, (fiber, _) in enumerate(split_fibers(tokens)):
        for t in fiber:
            if drop_zeros and t.val[0] == 0:
                continue
            entries[crd_base + nnz] = pack_entry(cfg, t.crd, t.val[0])
            nnz += 1
        pos[pos_base + r + 1] = nnz
    return pos, entries


@pytest.mark.cocotb
def test_compressed_writer(sim):
    cfg = unit_config(spm_depth=256)
    built = build(cfg, CompressedWriter, sim)
    codec = StreamCodec(cfg)
    rng = np.random.default_rng(2)
    streams = result_streams(cfg, rng, int(16 * SCALE[sim]))
    runs, want = [], []
    for i, tokens in enumerate(streams):
        drop = int(i % 3 != 2)
        runs.append({"pulse": ["start"], "stall": 0.3 * (i % 2),
                     "set": {"pos_base": 100, "crd_base": 7, "drop_zeros": drop, "append": 0},
                     "inputs": {"inp": codec.tokens(tokens, codec.result)}, "outputs": {},
                     "watch": ["entry_wr", "pos_wr"], "read": ["rows", "nnz", "busy"]})
        want.append(compressed_image(cfg, tokens, 100, 7, drop))
    for i, (res, (pos, entries)) in enumerate(zip(built.run_streams(runs), want)):
        got_pos = {a: d for a, d in res["writes"]["pos_wr"]}
        got_entries = {a: d for a, d in res["writes"]["entry_wr"]}
        assert got_pos == pos, f"run {i}: pos written {got_pos}, expected {pos}"
        assert got_entries == entries, f"run {i}: entries differ"
        assert len(res["writes"]["entry_wr"]) == len(entries), f"run {i}: an entry written twice"
        assert res["read"]["rows"] == len(pos) - 1 and res["read"]["nnz"] == len(entries)
        assert res["read"]["busy"] == 0, f"run {i}: busy after DONE"


@pytest.mark.cocotb
def test_dense_writer(sim):
    cfg = unit_config(spm_depth=256)
    built = build(cfg, DenseWriter, sim)
    codec = StreamCodec(cfg)
    rng = np.random.default_rng(4)
    runs, want = [], []
    for tokens in result_streams(cfg, rng, int(8 * SCALE[sim])):
        runs.append({"pulse": ["start"], "stall": 0.3, "set": {"base": 9},
                     "inputs": {"inp": codec.tokens(tokens, codec.result)}, "outputs": {},
                     "watch": ["wr"], "read": ["count"]})
        values = [t for t in tokens if t.data]
        want.append([[9 + n, pack_entry(cfg, t.crd, t.val[0])] for n, t in enumerate(values)])
    for i, (res, writes) in enumerate(zip(built.run_streams(runs), want)):
        assert res["writes"]["wr"] == writes, f"run {i}: dense writes differ"
        assert res["read"]["count"] == len(writes)
