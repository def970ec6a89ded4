"""Pacing under 4 concurrent dial consumers against the real database:
never more than the concurrency limit in flight, never more than ACCOUNT_CPS
dials in any 1-second window, and no call dialed twice."""
from collections import Counter

import pytest

from scripts.pacing_rig import PacingRig, max_in_any_second


@pytest.fixture
def frozen_clock():
    """Real time here: the dialers really wait for their turn."""
    yield None


def test_four_consumers_respect_the_rate_and_the_concurrency_limit(app_env):
    rig = PacingRig(consumers=4, cps=5, talk=(0.5, 0.9))
    free = rig.add_calls(14)
    limited = rig.add_calls(10, concurrency_key="batch:bat_rig", limit=2)
    rig.run(free + limited, timeout=60)

    dialed = [call_id for _, call_id in rig.carrier.dials]
    assert Counter(dialed).most_common(1)[0][1] == 1, "a call was dialed twice"
    assert sorted(dialed) == sorted(free + limited), "a call was never dialed"
    assert max_in_any_second([t for t, _ in rig.carrier.dials]) <= 5
    assert rig.carrier.max_in_flight["batch:bat_rig"] == 2
    assert "deferred" in rig.outcomes            # both limits really held calls back
    assert rig.containers[0].pacer.in_use("batch:bat_rig") == 0   # every slot came back


def test_max_in_any_second():
    assert max_in_any_second([0.0, 0.5, 0.99, 1.0, 1.2]) == 4   # [0.5, 1.5)
    assert max_in_any_second([]) == 0
