"""Deliberately broken variants of the streaming units, for the formal suite.

Each mutant subclasses the real component and overrides one of its small hook methods, so the
shipped component knows nothing of them. :mod:`zerohero.sim.proofs` runs every unit's proof on
a mutant too, and each mutant must fail it with a BMC counterexample: that shows the proof
can fail.
"""

from zerohero.hw.join import Intersector, TokenWindow, Unioner
from zerohero.hw.pe import MACLane
from zerohero.hw.scan import CompressedScanner

__all__ = ["MUTANTS", "variant"]


class ReadyLateWindow(TokenWindow):
    """Accepts a beat with one entry too few free (overflows the buffer)."""

    def _beat_fits(self, count):
        return count <= self.depth - self.k + 1


class SkipLeIntersector(Intersector):
    """The skip-ahead compares with ``<=``: it drops coordinates that match."""

    def _below(self, c, head):
        return c <= head


class TieLtUnioner(Unioner):
    """Equal heads compare with ``<``: neither side is taken (a deadlock)."""

    def _goes_first(self, x, y):
        return x < y


class AbsentValUnioner(Unioner):
    """An absent side's value is not zeroed."""

    def _operand(self, present, value):
        return value


class IssueZeroLane(MACLane):
    """Pairs with a zero operand are issued to the multiplier."""

    def _issues(self, tok):
        return tok.data & tok.has[0] & tok.has[1]


class LastOffByOneScanner(CompressedScanner):
    """A row's stop flag rides on the entry before its last."""

    def _ends_row(self, addr, end):
        return addr + 2 == end


#: Component class -> mutant name -> broken subclass.
MUTANTS = {
    TokenWindow: {"ready_late": ReadyLateWindow},
    Intersector: {"skip_le": SkipLeIntersector},
    Unioner: {"tie_lt": TieLtUnioner, "absent_val": AbsentValUnioner},
    MACLane: {"issue_zero": IssueZeroLane},
    CompressedScanner: {"last_off_by_one": LastOffByOneScanner},
}


def variant(cls, mutant=None):
    """``cls`` itself (``mutant=None``), or its broken variant named ``mutant``."""
    if mutant is None:
        return cls
    known = MUTANTS.get(cls, {})
    if mutant not in known:
        raise ValueError(f"{cls.__name__}: unknown mutant {mutant!r}; known: {tuple(known)}")
    return known[mutant]
