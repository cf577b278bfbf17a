"""A bounded soak: bench/soak.py's mixed traffic at 32 connections for CLICKPLANE_SOAK_SECONDS (60 by default):
reads, writes, refusals on purpose and a rate-limited key. No answer may be other than expected (no 5xx, no 429
for a key under its limit), the hot key gets no more than its limit, and serve's memory stays flat after warm-up.
The long run is `python bench/soak.py --duration 600`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.conftest import needs_clickhouse

pytestmark = needs_clickhouse

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
SECONDS = float(os.environ.get("CLICKPLANE_SOAK_SECONDS", "60"))
WARMUP_SECONDS = min(10.0, SECONDS / 4)
# Caches, pools and the allocator settle during warm-up; a leak of a few hundred bytes a request shows past this.
RSS_GROWTH_LIMIT_MIB = 30


def soak() -> dict[str, Any]:
    """bench/soak.py's figures. It cleans up after itself on SIGTERM, so a soak that overruns gets one."""
    command = [sys.executable, str(SOAK), "--duration", f"{SECONDS:g}", "--warmup", f"{WARMUP_SECONDS:g}", "--json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            output, errors = process.communicate(timeout=SECONDS + 600)
        except subprocess.TimeoutExpired:
            process.terminate()
            output, errors = process.communicate(timeout=120)
    assert process.returncode == 0, errors[-3000:]
    return json.loads(output.splitlines()[-1])  # type: ignore[no-any-return]


def test_mixed_traffic_gets_only_the_answers_expected_and_serves_memory_stays_flat() -> None:
    figures = soak()
    print(json.dumps(figures, indent=1))
    answers = figures["answers"]
    assert figures["requests"] > 0
    assert figures["errors"] == 0, figures["error_examples"]
    assert not [kind for kind in answers if kind.split()[-1].startswith("5")]
    # The hot key's allowance: a burst of one second's worth, then a second's worth each second.
    assert answers.get("hot details 200", 0) <= figures["rate_limit_per_second"] * (figures["duration_seconds"] + 1)
    assert figures["rss_end_mib"] - figures["rss_start_mib"] < RSS_GROWTH_LIMIT_MIB
