"""What an outside probe found (issue 12, "Low"). Input that was taken or answered 500: dates past the calendar's
ends, memory sizes a hair off a multiple, setting values that overflow the engine's integers, names with control
characters and IP access lists of any length; each is refused with a message naming the field and the rule. And
servers: recognised by more than their command line, and a hung one replaced promptly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from clickplane.activities.service import Window, window
from clickplane.backups.jobs import BackupJobs
from clickplane.backups.service import Storage
from clickplane.keys.schemas import ApiKeyPatchRequest, ApiKeyPostRequest
from clickplane.kit.binders import describe_validation_error
from clickplane.kit.errors import BadRequest
from clickplane.kit.schemas import MAX_IP_ACCESS_LIST_ENTRIES, IpAccessListEntry
from clickplane.roles.schemas import RoleCreateRequest, RoleUpdateRequest
from clickplane.runtime.clickhouse.config import config_argument
from clickplane.runtime.clickhouse.interface import Observation, ServiceSpec
from clickplane.runtime.clickhouse.local import LocalClickHouseRuntime
from clickplane.runtime.process import find_server, record_server, search_server, signal_server, spawn, start_time_file
from clickplane.service_settings.service import check_values, parse_catalog
from clickplane.services.controller import ServicePolicy
from clickplane.services.schemas import (
    ServicePostRequest,
    ServiceReplicaScalingPatchRequest,
    ServiceScalingPatchRequest,
)
from clickplane.services.service import validate_ip_access_list
from clickplane.store import models
from clickplane.store.database import Database
from tests.processes import processes_mentioning
from tests.unit.backups.test_backup_jobs import START, running_service
from tests.unit.fakes import Clock, service_loop
from tests.unit.runtime.clickhouse.test_local import SPEC, fake_binary

SERVICE = {"name": "probe", "provider": "aws", "region": "us-east-1"}


def refusal(model: type[BaseModel], body: dict[str, Any]) -> str:
    """The 400's message for `body`, as the JSON body binder words it."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(body), strict=True)
    return describe_validation_error(caught.value)


def bad_request(call: Any, *args: Any) -> str:
    with pytest.raises(BadRequest) as caught:
        call(*args)
    return caught.value.message


# Dates


@pytest.mark.parametrize(("from_date", "to_date", "parameter"), [
    (None, "9999-12-31", "to_date"),
    (None, "9999-12-31T23:59:59-01:00", "to_date"),
    (None, "9999-12-31T23:59:59Z", "to_date"),
    (None, "9999-12-31T23:59:59.999999Z", "to_date"),
    ("0001-01-01T00:00:00+01:00", None, "from_date"),
    ("9999-12-31", None, "from_date"),
])
def test_a_date_past_the_calendars_ends_is_refused_naming_the_parameter_and_the_range(
        from_date: str | None, to_date: str | None, parameter: str) -> None:
    value = from_date or to_date
    assert bad_request(window, from_date, to_date) == (
        f"{parameter} {value!r} is out of range: give a date or date-time from 0001-01-01 to 9999-12-30 (in UTC)")


def test_the_first_and_last_days_of_the_range_are_taken() -> None:
    selected = window("0001-01-01", "9999-12-30T23:59:59-00:00")
    assert selected == Window(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))


# Memory sizes


@pytest.mark.parametrize(("model", "field", "value", "step"), [
    (ServicePostRequest, "minReplicaMemoryGb", 8.0000000001, 4),
    (ServicePostRequest, "maxReplicaMemoryGb", 12.000000001, 4),
    (ServicePostRequest, "minTotalMemoryGb", 24.0000000001, 12),
    (ServicePostRequest, "maxTotalMemoryGb", 35.99999999999, 12),
    (ServiceReplicaScalingPatchRequest, "minReplicaMemoryGb", 8.0000000001, 4),
    (ServiceReplicaScalingPatchRequest, "maxReplicaMemoryGb", 355.9999999999, 4),
    (ServiceScalingPatchRequest, "minTotalMemoryGb", 24.0000000001, 12),
])
def test_memory_a_hair_off_a_multiple_is_refused(model: type[BaseModel], field: str, value: float,
                                                 step: int) -> None:
    body = {**SERVICE, field: value} if model is ServicePostRequest else {field: value}
    assert refusal(model, body) == f"{field}: Input should be a multiple of {step}"


def test_exact_multiples_are_taken() -> None:
    request = ServicePostRequest.model_validate_json(json.dumps(
        {**SERVICE, "minReplicaMemoryGb": 8.0, "maxReplicaMemoryGb": 356, "minTotalMemoryGb": 24.0}), strict=True)
    assert (request.minReplicaMemoryGb, request.maxReplicaMemoryGb, request.minTotalMemoryGb) == (8, 356, 24)


# ClickHouse setting values

# As 18.16 answers the catalog query (no types), and as a modern server does.
CATALOG = parse_catalog("\n".join(json.dumps(row) for row in [
    {"name": "max_threads", "value": "2", "changed": 0, "description": "Threads."},
    {"name": "totals_auto_threshold", "value": "0.5", "changed": 0, "description": "Threshold."},
    {"name": "max_block_size", "value": "65409", "type": "NonZeroUInt64", "default": "65409", "description": ""},
    {"name": "priority", "value": "0", "type": "Int64", "default": "0", "description": ""},
    {"name": "small", "value": "0", "type": "UInt8", "default": "0", "description": ""},
    {"name": "modern_threads", "value": "'auto(4)'", "type": "MaxThreads", "default": "'auto(4)'",
     "description": ""},
    {"name": "ratio", "value": "0", "type": "Float", "default": "0", "description": ""},
    {"name": "load_balancing", "value": "random", "type": "LoadBalancing", "default": "random", "description": ""},
]))


@pytest.mark.parametrize(("name", "value", "held_in", "low", "high"), [
    ("max_threads", "99999999999999999999999", "a 64-bit integer setting", -2**63, 2**64 - 1),
    ("max_threads", "18446744073709551616", "a 64-bit integer setting", -2**63, 2**64 - 1),
    ("max_threads", "-9223372036854775809", "a 64-bit integer setting", -2**63, 2**64 - 1),
    ("max_block_size", "18446744073709551616", "its type NonZeroUInt64", 1, 2**64 - 1),
    ("max_block_size", "0", "its type NonZeroUInt64", 1, 2**64 - 1),
    ("priority", "9223372036854775808", "its type Int64", -2**63, 2**63 - 1),
    ("small", "256", "its type UInt8", 0, 255),
    ("small", "-1", "its type UInt8", 0, 255),
    ("modern_threads", "99999999999999999999999", "its type MaxThreads", 0, 2**64 - 1),
])
def test_a_whole_number_outside_the_settings_integer_is_refused_naming_the_setting(
        name: str, value: str, held_in: str, low: int, high: int) -> None:
    assert bad_request(check_values, CATALOG, {name: value}) == (
        f"settings.{name}: {value} is out of range for {held_in}: give a whole number from {low} to {high}")


@pytest.mark.parametrize("settings", [
    {"max_threads": "18446744073709551615"}, {"max_threads": "-9223372036854775808"}, {"max_threads": "+4"},
    {"max_block_size": "1"}, {"priority": "-9223372036854775808"}, {"small": "255"},
    {"modern_threads": "auto"}, {"ratio": "99999999999999999999999"}, {"totals_auto_threshold": "1e30"},
])
def test_values_within_the_range_or_not_held_in_an_integer_are_taken(settings: dict[str, str]) -> None:
    check_values(CATALOG, settings)


# Names

CONTROL_CHARACTERS = ["\n", "\r", "\t", "\x1b", "\x00", "\x7f", "\x85", "\x9b"]


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
@pytest.mark.parametrize(("model", "body"), [
    (ApiKeyPostRequest, {}), (ApiKeyPatchRequest, {}), (RoleCreateRequest, {"actors": [], "policies": []}),
    (RoleUpdateRequest, {}),
])
def test_a_name_with_a_control_character_is_refused_naming_the_field(model: type[BaseModel], body: dict[str, Any],
                                                                     control: str) -> None:
    assert refusal(model, {**body, "name": f"a{control}b"}) == (
        "name: must not contain control characters (such as a newline, tab or escape) nor other unprintable ones; "
        "give printable text")


@pytest.mark.parametrize("model", [ApiKeyPostRequest, ApiKeyPatchRequest, RoleUpdateRequest])
@pytest.mark.parametrize("name", ["ключ №1 — ci", "読み取り 専用", "ci-deploy (prod)"])
def test_printable_names_in_any_script_are_taken(model: type[BaseModel], name: str) -> None:
    assert model.model_validate_json(json.dumps({"name": name}), strict=True).model_dump()["name"] == name


# IP access lists


def addresses(count: int) -> list[IpAccessListEntry]:
    return [IpAccessListEntry(source=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(count)]


def test_an_ip_access_list_holds_at_most_the_limit() -> None:
    assert MAX_IP_ACCESS_LIST_ENTRIES == 1000
    assert len(validate_ip_access_list(addresses(MAX_IP_ACCESS_LIST_ENTRIES))) == MAX_IP_ACCESS_LIST_ENTRIES
    assert bad_request(validate_ip_access_list, addresses(40_000)) == (
        "ipAccessList: a list holds at most 1000 entries; cover addresses with CIDR ranges (10.0.0.0/8) instead of "
        "listing them one by one")


def test_repeated_entries_do_not_count_against_the_limit() -> None:
    entries = addresses(MAX_IP_ACCESS_LIST_ENTRIES)
    assert len(validate_ip_access_list(entries + entries[:10])) == MAX_IP_ACCESS_LIST_ENTRIES


def test_a_key_request_says_the_limit_too() -> None:
    entries = [{"source": entry.source} for entry in addresses(MAX_IP_ACCESS_LIST_ENTRIES + 1)]
    assert refusal(ApiKeyPostRequest, {"name": "k", "ipAccessList": entries}) == (
        "ipAccessList: List should have at most 1000 items after validation, not 1001")
    assert refusal(ApiKeyPatchRequest, {"ipAccessList": entries}).startswith(
        "ipAccessList: List should have at most 1000 items")


# Recognising a service's server: by the start time recorded at spawn and our user, not the command line alone


def await_exec(pid: int, argument: str) -> None:
    """Until a child has exec'd, its command line is still its parent's: poll with a deadline."""
    deadline = time.monotonic() + 10
    while argument.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
        assert time.monotonic() < deadline, f"process {pid} never ran with {argument}"
        time.sleep(0.01)


def sleeper(config: Path) -> list[str]:
    return [sys.executable, "-c", "import time; time.sleep(60)", f"--config-file={config}"]


def test_a_recycled_pid_with_the_same_command_line_is_not_taken_for_the_recorded_server(tmp_path: Path) -> None:
    config, pid_file = tmp_path / "config.xml", tmp_path / "clickhouse.pid"
    child, server = spawn(sleeper(config), tmp_path, tmp_path / "console.log")
    try:
        await_exec(server.pid, f"--config-file={config}")
        record_server(pid_file, server)
        assert pid_file.read_text() == f"{server.pid}\n"  # still a plain pid file, as every tool reads one
        assert find_server(pid_file, config_argument(config)) == server
        # The recorded server was another process that had this pid before.
        start_time_file(pid_file).write_text(f"{server.start_time - 1}\n")
        assert find_server(pid_file, config_argument(config)) is None
        # A pid file with no start on record (garbage beside it, or none) is not trusted either.
        start_time_file(pid_file).write_text("garbage\n")
        assert find_server(pid_file, config_argument(config)) is None
        start_time_file(pid_file).unlink()
        assert find_server(pid_file, config_argument(config)) is None
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(os.getuid() != 0, reason="starting a process as another user needs root")
def test_a_process_of_another_user_is_never_taken_for_a_server_whatever_its_command_line(tmp_path: Path) -> None:
    config = tmp_path / "config.xml"
    # The shell stays, waiting for its sleep, with the argument on its command line.
    stranger = subprocess.Popen(["/bin/sh", "-c", "sleep 60", "sh", f"--config-file={config}"], user=65534, cwd="/",
                                start_new_session=True)
    try:
        await_exec(stranger.pid, f"--config-file={config}")
        assert search_server(config_argument(config)) is None
        ours, server = spawn(sleeper(config), tmp_path, tmp_path / "console.log")
        try:
            await_exec(server.pid, f"--config-file={config}")
            assert search_server(config_argument(config)) == server
        finally:
            ours.kill()
            ours.wait()
    finally:
        os.killpg(stranger.pid, signal.SIGKILL)
        stranger.wait()


# Stopping a server that cannot act on SIGTERM


def test_sigterm_reaches_a_stopped_server(tmp_path: Path) -> None:
    """ClickHouse handles SIGTERM itself: a stopped (SIGSTOP) process runs no handler until continued."""
    handles_sigterm = ("import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(7)); "
                       "print('handling', flush=True); time.sleep(60)")
    log = tmp_path / "log"
    child, server = spawn([sys.executable, "-c", handles_sigterm], tmp_path, log)
    try:
        deadline = time.monotonic() + 10
        while "handling" not in log.read_text():
            assert time.monotonic() < deadline, "the child never said it handles SIGTERM"
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGSTOP)
        signal_server(server, signal.SIGTERM)
        assert child.wait(timeout=10) == 7
    finally:
        child.kill()
        child.wait()


# A stand-in server that answers every request with "Ok." on the HTTP port of its config, until a file `hang`
# appears in its directory; then it holds every request unanswered. On SIGTERM it notes it in `got-sigterm`.
PING_SERVER = r"""
import http.server, os, re, signal
signal.signal(signal.SIGTERM, lambda *_: (open("got-sigterm", "w").close(), os._exit(0)))
config = next(arg for arg in sys.argv if arg.startswith("--config-file=")).partition("=")[2]
port = int(re.search(r"<http_port>(\d+)</http_port>", open(config).read()).group(1))

class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        while os.path.exists("hang"):
            time.sleep(1)
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"Ok.\n")

    do_POST = do_GET

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", port), Answer).serve_forever()
"""


@pytest.mark.anyio
async def test_a_server_that_does_not_answer_is_killed_without_waiting_out_a_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    binary = fake_binary(tmp_path / "bin", "clickhouse-server", PING_SERVER)
    local = LocalClickHouseRuntime(data_dir, binary, internal_password=lambda service_id: "internal", stop_timeout=5)
    try:
        await local.ensure_running(SPEC)
        root = data_dir / "services" / SPEC.service_id
        (root / "hang").touch()

        await local.stop(SPEC.service_id)

        assert not (root / "got-sigterm").exists()
        assert not processes_mentioning(data_dir)
        assert not (await local.observe(SPEC.service_id)).running
    finally:
        await local.delete(SPEC.service_id)
        await local.aclose()


@pytest.mark.anyio
async def test_a_server_that_answers_is_still_stopped_with_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    binary = fake_binary(tmp_path / "bin", "clickhouse-server", PING_SERVER)
    local = LocalClickHouseRuntime(data_dir, binary, internal_password=lambda service_id: "internal", stop_timeout=5)
    try:
        await local.ensure_running(SPEC)
        await local.stop(SPEC.service_id)
        assert (data_dir / "services" / SPEC.service_id / "got-sigterm").exists()
    finally:
        await local.delete(SPEC.service_id)
        await local.aclose()


# The reconciler: a server that runs but does not answer is replaced after a few checks in a row

UNANSWERED = Observation(running=False, pid=4242, reason="ClickHouse (pid 4242) does not answer /ping")
ANSWERED = Observation(running=True, pid=4242)
GONE = Observation(running=False, reason="ClickHouse exited unexpectedly")


@dataclass
class ScriptedRuntime:
    """Observes what the test scripts, one observation a check, and notes what it is asked to do."""

    observations: list[Observation]
    calls: list[str] = field(default_factory=list)

    async def observe(self, service_id: str) -> Observation:
        observation = self.observations.pop(0)
        self.calls.append("answered" if observation.running else "unanswered" if observation.pid else "gone")
        return observation

    async def stop(self, service_id: str) -> None:
        self.calls.append("stop")

    async def start(self, spec: ServiceSpec) -> None:
        self.calls.append("start")

    async def wait_until_up(self, service_id: str) -> Observation:
        return ANSWERED


@pytest.mark.anyio
async def test_a_server_is_replaced_after_unanswered_checks_in_a_row_and_one_that_is_gone_at_once(
        database: Database, tmp_path: Path) -> None:
    service_id = running_service(database)
    script = [UNANSWERED, UNANSWERED, ANSWERED, UNANSWERED, UNANSWERED, UNANSWERED, GONE, ANSWERED]
    runtime = ScriptedRuntime(list(script))
    jobs = BackupJobs(database, runtime, Storage(tmp_path / "data", tmp_path), Clock(START))  # type: ignore[arg-type]
    reconciler = service_loop(database, runtime, jobs, ServicePolicy(watch_interval_seconds=0, unanswered_checks=3))

    for _ in script:
        reconciler.pass_once()
        await reconciler.drain()

    assert runtime.calls == [
        "unanswered", "unanswered", "answered",  # an answer starts the count again
        "unanswered", "unanswered", "unanswered", "stop", "start",  # the third in a row: ended, then started
        "gone", "start",  # nothing left to end: started at once
        "answered",
    ]
    with database.transaction() as session:
        assert session.get(models.Service, service_id).state == "running"  # type: ignore[union-attr]
