"""Formal proofs: every unit's proof passes, every mutant fails with a counterexample.

Each test runs SymbiYosys (yowasp-sby, smtbmc + yices) through :mod:`zerohero.sim.formal`;
the properties are in :mod:`zerohero.sim.proofs`, the mutants in :mod:`zerohero.sim.mutants`.
Work folders: ``build/formal/<proof>/``.
"""

from pathlib import Path

import pytest

from zerohero.sim.proofs import PROOFS
from zerohero.sim.formal import FormalError, run

PASSING = [p for p in PROOFS if p.expect_pass]
MUTANTS = [p for p in PROOFS if not p.expect_pass]


@pytest.mark.parametrize("proof", PASSING, ids=lambda p: p.name)
def test_proof_holds(proof):
    result = run(proof)
    if not result.passed:
        raise FormalError(result)


@pytest.mark.parametrize("proof", MUTANTS, ids=lambda p: p.name)
def test_mutant_is_caught(proof):
    result = run(proof)
    # A real counterexample from BMC, not an inconclusive induction step nor a tool error.
    assert result.status.get("prove") == "FAIL", result.report()
    bmc = [f for f in result.failures if f.what.startswith("assert")]
    assert bmc, f"no BMC counterexample:\n{result.report()}"
    assert all(f.location.startswith("sim/proofs.py:") and f.text for f in bmc), \
        result.report()
    assert bmc[0].vcd and Path(bmc[0].vcd).is_file(), result.report()


def test_every_unit_has_a_mutant():
    units = {p.unit for p in PASSING}
    assert units == {p.unit for p in MUTANTS}
    assert units >= {"TokenWindow", "Intersector", "Unioner", "MACLane", "CompressedScanner"}
    assert {p.k for p in PASSING if p.unit in ("Intersector", "Unioner")} == {1, 2, 4}


def test_mutants_live_in_the_verification_layer():
    # The shipped components carry no broken variants: each mutant is a sim/ subclass that
    # overrides one hook method.
    from zerohero.sim.mutants import MUTANTS as TABLE

    by_name = {cls.__name__: cls for cls in TABLE}
    for proof in MUTANTS:
        assert proof.mutant in TABLE[by_name[proof.unit]]
    for cls, variants in TABLE.items():
        assert not hasattr(cls, "MUTANTS") and not hasattr(cls, "mutant")
        for sub in variants.values():
            assert issubclass(sub, cls) and sub.__module__ == "zerohero.sim.mutants"
