"""The compute core so far: per lane, an :class:`Intersector` feeding a :class:`MACLane`."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .join import Intersector
from .pe import MACLane, counter_names
from .protocol import beat_stream, token_stream

__all__ = ["SparseCore"]


class SparseCore(wiring.Component):
    """``cfg.lanes`` sparse dot-product engines (the SAM graph ``intersect -> mul -> reduce``).

    Lane ``i`` intersects fiber ``j`` of ``a[i]`` with fiber ``j`` of ``b[i]`` (for SpMSpV:
    the rows given to the lane and the vector repeated per row) and emits one result per fiber
    on ``out[i]``; only matching nonzeros reach the multiplier. ``error[i]`` flags a
    structure mismatch between a lane's inputs. Counters as in :class:`MACLane`.
    The memory controller and sequencer that feed it come with later issues.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        members = {
            "a": In(beat_stream(cfg, cfg.window)).array(cfg.lanes),
            "b": In(beat_stream(cfg, cfg.window)).array(cfg.lanes),
            "out": Out(token_stream(cfg, 1, value_width=cfg.acc_width)).array(cfg.lanes),
            "relu": In(1),
            "clear": In(1),
            "error": Out(cfg.lanes),
        }
        for name in counter_names:
            members[name] = Out(cfg.counter_width).array(cfg.lanes)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for i in range(self.cfg.lanes):
            isect = m.submodules[f"isect{i}"] = Intersector(self.cfg)
            lane = m.submodules[f"lane{i}"] = MACLane(self.cfg)
            wiring.connect(m, wiring.flipped(self.a[i]), isect.a)
            wiring.connect(m, wiring.flipped(self.b[i]), isect.b)
            wiring.connect(m, isect.out, lane.inp)
            wiring.connect(m, lane.out, wiring.flipped(self.out[i]))
            m.d.comb += [lane.relu.eq(self.relu), lane.clear.eq(self.clear),
                         self.error[i].eq(isect.error)]
            for name in counter_names:
                m.d.comb += getattr(self, name)[i].eq(getattr(lane, name))
        return m
