import pytest

from chalicelib.models.call_status import (CANCELLABLE, TERMINAL, TRANSITIONS, CallStatus, can_transition,
                                           predecessors)

S = CallStatus
RANK = {S.INITIATED: 0, S.RINGING: 1, S.IN_PROGRESS: 2, S.COMPLETED: 3, S.FAILED: 3, S.CANCELLED: 3}


def test_every_status_has_a_row():
    assert set(TRANSITIONS) == set(CallStatus)


def test_terminal_states_are_final():
    assert TERMINAL == {S.COMPLETED, S.FAILED, S.CANCELLED}
    for status in TERMINAL:
        assert not any(can_transition(status, other) for other in CallStatus)


@pytest.mark.parametrize("current", list(CallStatus))
@pytest.mark.parametrize("new", list(CallStatus))
def test_no_transition_moves_backwards_or_stays(current, new):
    if can_transition(current, new):
        assert RANK[new] > RANK[current]


def test_only_unanswered_calls_can_be_cancelled():
    assert CANCELLABLE == {S.INITIATED, S.RINGING}
    assert not can_transition(S.IN_PROGRESS, S.CANCELLED)


def test_lost_callbacks_may_be_skipped():
    assert can_transition(S.INITIATED, S.COMPLETED)   # ringing and answered callbacks lost
    assert can_transition(S.RINGING, S.FAILED)


def test_predecessors_match_the_table():
    for new in CallStatus:
        assert predecessors(new) == {s for s in CallStatus if new in TRANSITIONS[s]}
    assert predecessors(S.IN_PROGRESS) == {S.INITIATED, S.RINGING}
