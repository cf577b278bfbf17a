"""Crash consistency, bounded for CI: `clickplane serve` killed (SIGKILL) at random points of a mixed workload and
restarted, round after round for about CLICKPLANE_CRASH_SECONDS (75 by default); tests/integration/crash.py
describes the workload, the kill points and the checks. The seed is printed, and CLICKPLANE_CRASH_SEED replays one.
The long run is `python -m tests.integration.crash --rounds 200 [--seed N]`."""

from __future__ import annotations

import os
import random
import time

from tests.integration.conftest import needs_clickhouse
from tests.integration.crash import run
from tests.integration.harness import ClickplaneServer

pytestmark = needs_clickhouse

BUDGET_SECONDS = float(os.environ.get("CLICKPLANE_CRASH_SECONDS", "75"))
MAX_ROUNDS = 1000


def test_a_killed_serve_keeps_every_answered_change_and_leaves_nothing_half_done(
        fresh_server: ClickplaneServer) -> None:
    seed = int(os.environ.get("CLICKPLANE_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    fresh_server.start()
    deadline = time.monotonic() + BUDGET_SECONDS
    totals = run(fresh_server, MAX_ROUNDS, seed, enough=lambda: time.monotonic() > deadline)
    print(f"seed {seed}: {dict(sorted(totals.items()))}")
    assert totals["rounds"] >= 1
    assert totals["change acked"] > 0
