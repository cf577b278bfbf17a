"""LocalClickHouseRuntime under faults, without ClickHouse: a pid file that lost track of its server, files that cannot
be written, a spec that cannot be rendered; every one ends in a RuntimeFailure or a found server, never an
untracked process or another exception."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clickplane.runtime import process
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.config import config_argument
from clickplane.runtime.clickhouse.interface import ServiceSpec
from clickplane.runtime.clickhouse.local import LocalClickHouseRuntime
from clickplane.runtime.clickhouse.setup import ClickHousePorts
from clickplane.runtime.ports import save_ports
from tests.processes import processes_mentioning
from tests.unit.runtime.clickhouse.test_local import fake_binary, runtime

pytestmark = pytest.mark.anyio

SPEC = ServiceSpec("svc-1", hashlib.sha256(b"pw").hexdigest(), ip_access_list=("127.0.0.1",))
DEADLINE_SECONDS = 10.0


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    leftovers = processes_mentioning(tmp_path)
    assert not leftovers, f"processes left running: {leftovers}"


def service_dir(data_dir: Path) -> Path:
    return data_dir.resolve() / "services" / SPEC.service_id


@pytest.fixture
def server_of_svc(data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in server started with svc-1's config file, as the runtime starts one, but not by it."""
    directory = service_dir(data_dir)
    directory.mkdir(parents=True)
    argv = [sys.executable, "-c", "import time; time.sleep(600)", config_argument(directory / "config.xml")]
    child = subprocess.Popen(argv, start_new_session=True)
    try:
        # Until the child has exec'd, its command line is still this process's.
        deadline = time.monotonic() + DEADLINE_SECONDS
        while process.search_server(config_argument(directory / "config.xml")) is None:
            assert time.monotonic() < deadline, "the stand-in server did not start"
            time.sleep(0.01)
        yield child
    finally:
        child.kill()
        child.wait()


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that has nothing to do with any service."""
    child = subprocess.Popen(["sleep", "600"])
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def test_a_server_is_found_by_its_config_when_its_pid_file_is_garbage(
        data_dir: Path, server_of_svc: subprocess.Popen[bytes]) -> None:
    config, pid_file = service_dir(data_dir) / "config.xml", service_dir(data_dir) / "clickhouse.pid"
    pid_file.write_bytes(b"\x00garbage\xff\n")

    assert process.find_server(pid_file, config_argument(config)) is None
    found = process.search_server(config_argument(config))
    assert found is not None
    assert found.pid == server_of_svc.pid
    assert process.search_server(config_argument(config.with_name("other.xml"))) is None


@pytest.mark.parametrize("pid_file_text", ["garbage\n", "-1\n", "0\n", ""])
async def test_stop_finds_and_stops_a_server_whose_pid_file_is_garbage(
        data_dir: Path, server_of_svc: subprocess.Popen[bytes], pid_file_text: str) -> None:
    pid_file = service_dir(data_dir) / "clickhouse.pid"
    pid_file.write_text(pid_file_text)

    await runtime(data_dir, "clickhouse-server").stop(SPEC.service_id)

    assert server_of_svc.wait(timeout=DEADLINE_SECONDS) is not None
    assert not pid_file.exists()


async def test_a_pid_file_naming_another_program_leaves_it_alone_and_finds_the_server(
        data_dir: Path, server_of_svc: subprocess.Popen[bytes], bystander: subprocess.Popen[bytes]) -> None:
    pid_file = service_dir(data_dir) / "clickhouse.pid"
    pid_file.write_text(f"{bystander.pid}\n")
    # Nothing answers there: not our concern.
    save_ports(service_dir(data_dir) / "ports.json", ClickHousePorts(1, 2, 3, 4))
    local = runtime(data_dir, "clickhouse-server")

    observation = await local.observe(SPEC.service_id)
    repaired = pid_file.read_text()
    await local.stop(SPEC.service_id)

    assert observation.pid == server_of_svc.pid
    assert repaired == f"{server_of_svc.pid}\n"
    assert server_of_svc.wait(timeout=DEADLINE_SECONDS) is not None
    assert bystander.poll() is None


async def test_a_server_is_ended_when_its_pid_file_cannot_be_written(tmp_path: Path, data_dir: Path) -> None:
    binary = fake_binary(tmp_path / "bin", "clickhouse-server", "time.sleep(600)")
    (service_dir(data_dir) / "clickhouse.pid").mkdir(parents=True)  # a directory where the pid file goes

    with pytest.raises(RuntimeFailure, match="cannot start ClickHouse"):
        await runtime(data_dir, binary).ensure_running(SPEC)
    # The data_dir fixture checks that the unrecorded server did not stay.


async def test_files_that_cannot_be_written_fail_the_start_with_the_reason(data_dir: Path) -> None:
    service_dir(data_dir).parent.mkdir(parents=True)
    service_dir(data_dir).write_text("a file where the service's directory goes")

    with pytest.raises(RuntimeFailure, match=r"cannot set up service svc-1 in .*: \[Errno \d+\]"):
        await runtime(data_dir, "clickhouse-server").ensure_running(SPEC)


@pytest.mark.parametrize("spec", [
    ServiceSpec("svc-1", SPEC.password_sha256_hex, ip_access_list=("fe80::1%eth0",)),
    ServiceSpec("svc-1", SPEC.password_sha256_hex, settings=(("format_schema", "${users}"),)),
    ServiceSpec("svc-1", SPEC.password_sha256_hex, settings=(("a-b", "1"),)),
])
async def test_a_spec_that_cannot_be_rendered_fails_with_the_reason(data_dir: Path, spec: ServiceSpec) -> None:
    local: LocalClickHouseRuntime = runtime(data_dir, "clickhouse-server")

    with pytest.raises(RuntimeFailure, match="the users file of service svc-1 cannot be written"):
        await local.ensure_running(spec)
