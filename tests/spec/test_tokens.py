"""The token protocol's golden helpers and their checks."""

import pytest

from zerohero.firmware.scheduler import balance_rows
from zerohero.model.streams import intersect_tokens, mac_tokens, union_tokens
from zerohero.model import IntSemantics
from zerohero.spec.tokens import DONE, check_stream, data, decode_fibers, encode_fibers, stop


def test_stop_rides_on_last_data_token_and_empty_fibers_stand_alone():
    toks = encode_fibers([[(0, 5), (2, 7)], [], [(1, 3)]])
    assert toks == [data(0, 5), data(2, 7, stop=0), stop(0), data(1, 3, stop=1), DONE]
    assert [[t.crd for t in f] for f in decode_fibers(toks)] == [[0, 2], [], [1]]
    assert encode_fibers([]) == [stop(1), DONE]


@pytest.mark.parametrize("tokens, message", [
    ([data(3, 1), data(3, 1, stop=0), DONE], "token 1 coordinate 3 not above 3"),
    ([data(1, 1), stop(0), DONE], "stop-only token 1 closes a non-empty fiber"),
    ([data(1, 1), DONE], "DONE at token 1 inside an open fiber"),
    ([data(1, 1, stop=0)], "does not end with DONE"),
    ([stop(0), DONE, DONE], "tokens after DONE at token 1"),
])
def test_protocol_violations_are_named(tokens, message):
    with pytest.raises(ValueError, match=message):
        check_stream(tokens)


def test_join_and_reduce_golden_on_a_hand_example():
    a = encode_fibers([[(1, 2), (4, 3), (7, 5)], [(0, 1)], []])
    b = encode_fibers([[(4, 10), (7, -1), (9, 4)], [], [(2, 2)]])
    assert intersect_tokens(a, b) == [data(4, 3, 10), data(7, 5, -1, stop=0), stop(0), stop(1),
                                      DONE]
    u = union_tokens(a, b)
    assert [(t.crd, t.has) for t in u if t.data] == [
        (1, (True, False)), (4, (True, True)), (7, (True, True)), (9, (False, True)),
        (0, (True, False)), (2, (False, True))]
    sem = IntSemantics(8, 16, "wrap")
    assert mac_tokens(intersect_tokens(a, b), sem) == [data(0, 25), data(1, 0), data(2, 0,
                                                                                    stop=0), DONE]
    neg = encode_fibers([[(4, -10), (7, -1)], [], []])
    assert mac_tokens(intersect_tokens(a, neg), sem)[0].val == (-35,)
    assert mac_tokens(intersect_tokens(a, neg), sem, relu=True)[0].val == (0,)


def test_balance_rows_by_cost_not_index():
    costs = [10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    lanes = balance_rows(costs, 2)
    assert sorted(sum(lanes, [])) == list(range(len(costs)))
    loads = sorted(sum(costs[r] for r in rows) for rows in lanes)
    assert loads == [10, 10]
    assert all(rows == sorted(rows) for rows in lanes)
    with pytest.raises(ValueError, match="lanes must be at least 1, not 0"):
        balance_rows(costs, 0)
