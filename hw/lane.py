"""One lane of the accelerator: the units a job of the sequencer runs.

Operand ``A`` rows stream from the lane's operand bank, through a compressed or a dense
scanner (``A_MODE``). Each row meets ``B`` either by gathering ``x[crd]`` from the lane's vector
bank with the :class:`Locator` (``B_MODE = 0``: SpMV, SpMM, GEMV, GEMM) or by intersecting with a
sparse fiber streamed once per row from the vector bank (``B_MODE = 1``: SpMSpV). The pairs go
to the lane's :class:`MACLane` and one result per row is written to ``OUT_BASE ..`` of the
vector bank by a :class:`DenseWriter` (``out_wr``). Field names and meanings are the ISA's
(:mod:`zerohero.firmware.isa`).

Sparse outputs: ``B_MODE = 2`` intersects row ``r`` of A with fiber ``r`` of a CSR in the
vector bank (elementwise product), ``B_MODE = 3`` takes their union through a
:class:`Unioner` (elementwise sum); ``MAC_MODE`` makes the MAC emit one product or sum per
pair instead of one dot product per row. ``OUT_MODE = 1`` sends the results to a
:class:`CompressedWriter` that drops zero results and writes entries to ``OUT_BASE`` of the
vector bank (``out_wr``) and ``pos`` to ``OUT_POS`` of the operand bank (``pos_wr``).
With ``AccelConfig.sparse_out`` off, none of that is built: B_MODE 2 and 3 both intersect row
by row, OUT_MODE and MAC_MODE are ignored (the runtime refuses the sparse-output kernels).

Chaining (``AccelConfig.result_stage``; dense writer only): ``OUT_MODE`` bit 2 sends the
writer's writes to a two-entry queue whose head (``bc``) the accelerator's
:class:`~zerohero.hw.result.BroadcastBus` writes into every lane's vector bank at
``OUT_BASE + OUT_POS + n``; with bit 3 (in a gather job) each is requantized on the way, with
its row's table word at ``RQ_TABLE + OUT_POS + n``.
"""

from amaranth.hdl import C, DomainRenamer, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from zerohero.spec.isa import F_WIDTH, FIELDS, IMM_WIDTH

from .gating import add_gated_domain, own_copy
from .join import Intersector, Unioner
from .memory import ReadPortSignature, WritePortSignature
from .pe import MACLane, counter_names
from .result import BusWriteLayout
from .scan import CompressedScanner, CompressedWriter, DenseScanner, DenseWriter, Locator

__all__ = ["Lane", "LaneCommand"]


def _pick(default, choices):
    """``default``, or the value of the ``(select, value)`` of ``choices`` whose select is high
    (the selects are exclusive): a chain of Muxes."""
    for sel, value in choices:
        default = Mux(sel, value, default)
    return default


class LaneCommand(wiring.Signature):
    """A lane's commands, from the sender's side (the accelerator's command stages; the lane
    takes ``In(LaneCommand())``). ``we`` writes ``value`` into lane field ``field`` (numbered as
    :data:`zerohero.spec.isa.FIELDS`), ``run`` starts the configured job, ``clear`` clears the
    performance counters. Widths are the instruction word's (``F_WIDTH``, ``IMM_WIDTH``)."""

    def __init__(self):
        super().__init__({"we": Out(1), "field": Out(F_WIDTH), "value": Out(IMM_WIDTH),
                          "run": Out(1), "clear": Out(1)})


class Lane(wiring.Component):
    """One lane: the units a job runs, configured by its lane fields (module docstring).

    Ports:

    * ``cmd`` (:class:`LaneCommand`, in): field writes, ``run`` and ``clear``. Every command is
      registered on entry: a field is written the cycle after ``we``, and a ``run`` starts the
      job the cycle after it (the scanners' ``start``), the same cycle ``pending`` rises.
    * ``op_rd[0..1]``, ``vec_rd[0..1]`` (registered read ports, data a cycle after ``en``): the
      lane's operand bank (``pos``, then entries or dense rows) and vector bank (the gathered
      vector or the joined fibers' ``pos``, then their entries).
    * ``out_wr``: results to the vector bank (dense writer, or a compressed output's entries);
      ``pos_wr``: a compressed output's ``pos`` to the operand bank; ``bc`` (with
      ``result_stage``): the head of the lane's queue of broadcast writes (a
      :class:`~zerohero.hw.result.BusWriteLayout`, offered while ``bc_valid``, popped by
      ``bc_ready``).
    * ``pending``: a ``run`` is registered and the job starts this cycle; ``active``: a unit
      of the lane is busy (the job runs until both are low); ``error``: the intersector (or
      unioner) saw a stream structure mismatch (sticky); ``progress``: the MAC took a token this
      cycle (the sequencer's watchdog).
    * one counter a name of :data:`~zerohero.hw.pe.counter_names` (``cfg.counter_width`` bits,
      the MAC's, cleared by ``clear``).

    The lane depends on nothing outside its clock domain combinationally: its commands enter
    through registers, and its read data comes from the banks' read registers, which the
    accelerator clocks with the lane (so a stopped lane needs nothing evaluated,
    :class:`~zerohero.hw.accelerator.Accelerator`).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        members = {
            "op_rd": Out(ReadPortSignature(cfg)).array(2),
            "out_wr": Out(WritePortSignature(cfg)),
            "pos_wr": Out(WritePortSignature(cfg)),
            "vec_rd": Out(ReadPortSignature(cfg)).array(2),
            "cmd": In(LaneCommand()),
            "bc": Out(BusWriteLayout(cfg)), "bc_valid": Out(1), "bc_ready": In(1),
            "active": Out(1), "pending": Out(1), "error": Out(1), "progress": Out(1),
        }
        for name in counter_names:
            assert name not in members, f"counter {name!r} clashes with a Lane port"
            members[name] = Out(cfg.counter_width)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        cmd = self.cmd
        # The commands arrive through a register: one broadcast net a cycle for all lanes,
        # and nothing in the lane is combinational from outside it (see Accelerator's clock
        # gating). A registered ``run`` is ``pending``: the lane counts as busy from the cycle
        # after the sequencer's RUN.
        we, run, clear = Signal(name="cfg_we_q"), Signal(name="run_q"), Signal(name="clear_q")
        field = Signal.like(cmd.field, name="cfg_field_q")
        value = Signal.like(cmd.value, name="cfg_value_q")
        # The field and value load only when this lane is written: the same broadcast bits
        # registered unconditionally in every lane would be identical flip-flops, which Yosys
        # merges into one set (with the field decode) fanned out across the chip; the lane's
        # own enable keeps a copy per lane. `clear` is the same broadcast for every lane, so
        # its copy needs own_copy.
        m.d.sync += [we.eq(cmd.we), run.eq(cmd.run)]
        own_copy(m, "sync", clear, cmd.clear)
        with m.If(cmd.we):
            m.d.sync += [field.eq(cmd.field), value.eq(cmd.value)]
        m.d.comb += self.pending.eq(run)
        fields = {name: Signal(IMM_WIDTH, name=name.lower()) for name in FIELDS}
        with m.If(we):
            with m.Switch(field):
                for name, index in FIELDS.items():
                    with m.Case(index):
                        m.d.sync += fields[name].eq(value)
        sparse_out = cfg.sparse_out             # the sparse-output path is built
        a_dense = fields["A_MODE"][0]
        b_mode = fields["B_MODE"][:2]
        b_join = b_mode != 0                    # B streamed by xs and joined with A
        b_union = (b_mode == 3) if sparse_out else C(0, 1)
        b_isect = b_join & ~b_union
        compressed = fields["OUT_MODE"][0] if sparse_out else C(0, 1)
        chained = cfg.result_stage              # the result stage and broadcast are built
        bcast = (fields["OUT_MODE"][2] & ~compressed) if chained else C(0, 1)
        requant = (fields["OUT_MODE"][3] & ~compressed & ~b_join) if chained else C(0, 1)

        m.submodules.cs = cs = CompressedScanner(cfg)
        m.submodules.ds = ds = DenseScanner(cfg)
        xs = CompressedScanner(cfg)
        m.submodules.loc = loc = Locator(cfg)
        isect = Intersector(cfg)
        m.submodules.mac = mac = MACLane(cfg)
        m.submodules.wr = wr = DenseWriter(cfg, arbitrated=cfg.result_stage)
        if chained:
            # A broadcast result waits in the lane's own two-entry queue, so that the writer's
            # stall depends on the queue's level alone, not on the bus's grant (decided across
            # every lane, it would run into every lane's stall).
            bc_in = Signal(BusWriteLayout(cfg))
            m.submodules.bq = bq = SyncFIFO(width=len(bc_in.as_value()), depth=2)
            m.d.comb += [self.bc.eq(bq.r_data), self.bc_valid.eq(bq.r_rdy),
                         bq.r_en.eq(self.bc_ready), bq.w_data.eq(bc_in)]
        # The join units (xs and the intersector, and the unioner) have a clock of their own,
        # gated (hw/gating.py) to run only while B is joined with A (B_MODE != 0) or xs is
        # busy: in a gather job (SpMV, SpMM, GEMV, GEMM) they get no start, no valid input
        # and no ready, so their state cannot change.
        add_gated_domain(m, "join", b_join | xs.busy, cfg.clock_gating)
        m.submodules.xs = DomainRenamer("join")(xs)
        m.submodules.isect = DomainRenamer("join")(isect)
        # A register slice between the B side (locator or joiner) and the MAC: both ways
        # registered (the FIFO's level), so neither the joiner's match logic nor the MAC's
        # hold meets the other's in one cycle (the FPGA critical path otherwise). Two entries
        # keep one token a cycle; it costs one cycle of latency a job. The MAC takes the
        # FIFO's read side as a stream; its write side is fed from the B side's unit below.
        m.submodules.joined = joined = SyncFIFO(width=len(mac.inp.payload.as_value()), depth=2)
        wiring.connect(m, joined.r_stream, mac.inp)
        if sparse_out:
            union = Unioner(cfg, k=1)
            m.submodules.union = DomainRenamer("join")(union)
            m.submodules.cw = cw = CompressedWriter(cfg)
            m.d.comb += [
                cw.start.eq(run & compressed), cw.append.eq(fields["OUT_MODE"][1]),
                cw.drop_zeros.eq(1), cw.pos_base.eq(fields["OUT_POS"]),
                cw.crd_base.eq(fields["OUT_BASE"]), mac.mode.eq(fields["MAC_MODE"][:2]),
            ]

        # Job start and parameters.
        m.d.comb += [
            cs.start.eq(run & ~a_dense), ds.start.eq(run & a_dense),
            xs.start.eq(run & b_join), wr.start.eq(run & ~compressed),
            cs.pos_base.eq(fields["A_POS"]), cs.crd_base.eq(fields["A_CRD"]),
            cs.rows.eq(fields["A_ROWS"]), cs.level.eq(1),
            ds.base.eq(fields["A_POS"]), ds.stride.eq(fields["A_CRD"]),
            ds.rows.eq(fields["A_ROWS"]), ds.cols.eq(fields["A_COLS"]), ds.level.eq(1),
            xs.pos_base.eq(fields["B_POS"]), xs.crd_base.eq(fields["B_CRD"]),
            xs.rows.eq(fields["A_ROWS"]), xs.level.eq(1), xs.repeat.eq(b_mode == 1),
            loc.base.eq(fields["B_POS"]),
            wr.base.eq(fields["OUT_BASE"] + Mux(bcast, fields["OUT_POS"], 0)),
            mac.relu.eq(fields["RELU"][0]), mac.clear.eq(clear),
        ]
        # Memory ports.
        with m.If(compressed):
            if sparse_out:
                m.d.comb += [self.out_wr.addr.eq(cw.entry_wr.addr),
                             self.out_wr.en.eq(cw.entry_wr.en),
                             self.out_wr.data.eq(cw.entry_wr.data)]
        with m.Elif(bcast):
            if chained:
                m.d.comb += [bq.w_en.eq(wr.wr.en), wr.wr_ready.eq(bq.w_rdy)]
        with m.Else():
            m.d.comb += [self.out_wr.addr.eq(wr.wr.addr), self.out_wr.en.eq(wr.wr.en),
                         self.out_wr.data.eq(wr.wr.data)]
            if chained:
                m.d.comb += wr.wr_ready.eq(1)
        if sparse_out:
            # Gated with the mode: the writer's port is only the lane's in compressed mode
            # (and an idle writer's combinational enable can stay X on Icarus, which would
            # reach the host's bus ready through the double-buffering arbiter).
            m.d.comb += [self.pos_wr.addr.eq(cw.pos_wr.addr), self.pos_wr.data.eq(cw.pos_wr.data),
                         self.pos_wr.en.eq(cw.pos_wr.en & compressed)]
        for port, (sparse, dense) in enumerate([(cs.pos_rd, None), (cs.crd_rd, ds.rd)]):
            ours = self.op_rd[port]
            srcs = [(~a_dense, sparse)] + ([(a_dense, dense)] if dense is not None else [])
            for sel, src in srcs:
                with m.If(sel):
                    m.d.comb += [ours.addr.eq(src.addr), ours.en.eq(src.en)]
                m.d.comb += src.data.eq(ours.data)
        with m.If(b_join):
            m.d.comb += [self.vec_rd[0].addr.eq(xs.pos_rd.addr),
                         self.vec_rd[0].en.eq(xs.pos_rd.en)]
        with m.Else():
            m.d.comb += [self.vec_rd[0].addr.eq(loc.rd.addr), self.vec_rd[0].en.eq(loc.rd.en)]
        m.d.comb += [xs.pos_rd.data.eq(self.vec_rd[0].data), loc.rd.data.eq(self.vec_rd[0].data)]
        # The second vector port is xs's entries' (a join job's).
        with m.If(b_join):
            m.d.comb += [self.vec_rd[1].addr.eq(xs.crd_rd.addr),
                         self.vec_rd[1].en.eq(xs.crd_rd.en)]
        m.d.comb += xs.crd_rd.data.eq(self.vec_rd[1].data)

        # A stream: from the compressed or the dense scanner.
        a_valid = Mux(a_dense, ds.out.valid, cs.out.valid)
        a_payload = Mux(a_dense, ds.out.payload.as_value(), cs.out.payload.as_value())
        a_ready = Signal()
        m.d.comb += [cs.out.ready.eq(a_ready & ~a_dense), ds.out.ready.eq(a_ready & a_dense)]
        # B: gather through the locator, or join A with xs's stream (one-token beats) in the
        # intersector or (B_MODE 3) the unioner. One select is high (~b_join, b_isect, b_union
        # are exclusive): its unit feeds the register slice, the others see no valid or ready.
        joiners = [(b_isect, isect)] + ([(b_union, union)] if sparse_out else [])
        joined_in = joined.w_stream
        m.d.comb += [loc.inp.valid.eq(a_valid & ~b_join), loc.inp.payload.eq(a_payload),
                     loc.out.ready.eq(joined_in.ready & ~b_join)]
        for sel, unit in joiners:
            m.d.comb += [
                unit.a.valid.eq(a_valid & sel), unit.a.p.tok[0].eq(a_payload), unit.a.p.n.eq(1),
                unit.b.valid.eq(xs.out.valid & sel), unit.b.p.tok[0].eq(xs.out.payload),
                unit.b.p.n.eq(1),
                unit.out.ready.eq(joined_in.ready & sel),
            ]
        # The selected unit's valid, payload and A ready; xs's ready is the intersector's
        # unless the unioner is selected (xs only runs in a join job).
        m.d.comb += [
            joined_in.valid.eq(_pick(loc.out.valid, [(sel, u.out.valid) for sel, u in joiners])),
            joined_in.payload.eq(_pick(loc.out.payload.as_value(),
                                       [(sel, u.out.payload.as_value()) for sel, u in joiners])),
            a_ready.eq(_pick(loc.inp.ready, [(sel, u.a.ready) for sel, u in joiners])),
            xs.out.ready.eq(_pick(isect.b.ready, [(sel, u.b.ready) for sel, u in joiners[1:]])),
        ]
        # Results: to the dense writer, or (OUT_MODE 1) the compressed writer.
        m.d.comb += [wr.inp.valid.eq(mac.out.valid & ~compressed),
                     wr.inp.payload.eq(mac.out.payload)]
        busy, error = wr.busy, isect.error
        if chained:
            # A broadcast result's row in the job's table (the lane's rows are OUT_POS on).
            m.d.comb += [bc_in.addr.eq(wr.wr.addr), bc_in.entry.eq(wr.wr.data),
                         bc_in.table.eq(fields["RQ_TABLE"] + fields["OUT_POS"] + wr.count),
                         bc_in.rq.eq(requant)]
            busy = busy | bq.r_rdy
        if sparse_out:
            m.d.comb += [cw.inp.valid.eq(mac.out.valid & compressed),
                         cw.inp.payload.eq(mac.out.payload)]
            busy, error = busy | cw.busy, error | union.error
        m.d.comb += mac.out.ready.eq(Mux(compressed, cw.inp.ready, wr.inp.ready) if sparse_out
                                     else wr.inp.ready)


        m.d.comb += [
            self.active.eq(busy | cs.busy | ds.busy | xs.busy),
            self.error.eq(error),
            self.progress.eq(mac.inp.valid & mac.inp.ready),
        ]
        for name in counter_names:
            m.d.comb += getattr(self, name).eq(getattr(mac, name))
        return m
