"""LocalClickHouseRuntime without ClickHouse: argument checks, start failures and stale pid files, using small
stand-in programs for the server binary."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from clickplane.auth.secrets import SecretHasher
from clickplane.operations import clickhouse_runtime
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.interface import ServiceSpec
from clickplane.runtime.clickhouse.local import LocalClickHouseRuntime
from clickplane.runtime.kubernetes.runtime import KubernetesClickHouseRuntime
from clickplane.settings import Settings
from tests.processes import processes_mentioning

pytestmark = pytest.mark.anyio

SPEC = ServiceSpec("svc-1", hashlib.sha256(b"pw").hexdigest(), ip_access_list=("127.0.0.1",))


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    leftovers = processes_mentioning(tmp_path)
    assert not leftovers, f"processes left running: {leftovers}"


def fake_binary(directory: Path, name: str, body: str) -> str:
    """A stand-in server: a Python script called `name` that runs `body`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    path.chmod(0o755)
    return str(path)


def runtime(data_dir: Path, binary: str, start_timeout: float = 10.0) -> LocalClickHouseRuntime:
    return LocalClickHouseRuntime(
        data_dir, binary, internal_password=lambda service_id: f"internal-{service_id}", start_timeout=start_timeout
    )


async def test_a_server_that_exits_at_start_fails_with_its_output(tmp_path: Path, data_dir: Path) -> None:
    binary = fake_binary(
        tmp_path / "bin",
        "clickhouse",
        "print('argv:', *sys.argv[1:]); print('broken config', file=sys.stderr); sys.exit(3)",
    )

    with pytest.raises(RuntimeFailure) as failure:
        await runtime(data_dir, binary).ensure_running(SPEC)

    message = str(failure.value)
    assert "exited with status 3" in message
    assert f"argv: server --config-file={data_dir.resolve()}/services/svc-1/config.xml" in message
    assert "broken config" in message


async def test_a_server_that_never_answers_is_killed_at_the_deadline(tmp_path: Path, data_dir: Path) -> None:
    binary = fake_binary(tmp_path / "bin", "clickhouse-server", "time.sleep(600)")
    local = runtime(data_dir, binary, start_timeout=0.3)

    with pytest.raises(RuntimeFailure, match=r"did not answer /ping within 0\.3 s"):
        await local.ensure_running(SPEC)

    assert not processes_mentioning(data_dir)
    assert not (data_dir / "services" / "svc-1" / "clickhouse.pid").exists()
    assert not (await local.observe("svc-1")).running


async def test_a_missing_binary_fails_with_a_reason(data_dir: Path) -> None:
    with pytest.raises(RuntimeFailure, match="cannot start ClickHouse"):
        await runtime(data_dir, "/nonexistent/clickhouse").ensure_running(SPEC)


async def test_a_stale_pid_file_is_ignored_and_never_signalled(tmp_path: Path, data_dir: Path) -> None:
    binary = fake_binary(tmp_path / "bin", "clickhouse-server", "sys.exit(1)")
    local = runtime(data_dir, binary)
    with pytest.raises(RuntimeFailure):
        await local.ensure_running(SPEC)
    # This test's own process is alive but is no ClickHouse of this service.
    pid_file = data_dir / "services" / "svc-1" / "clickhouse.pid"
    pid_file.write_text(f"{os.getpid()}\n")

    observation = await local.observe("svc-1")
    await local.stop("svc-1")

    assert not observation.running
    assert observation.reason is not None
    assert not pid_file.exists()


@pytest.mark.parametrize("service_id", ["", ".", "..", "../x", "a/b", ".hidden", "x" * 200])
async def test_service_ids_that_are_not_plain_names_are_refused(data_dir: Path, service_id: str) -> None:
    with pytest.raises(ValueError, match="invalid service id"):
        await runtime(data_dir, "clickhouse-server").observe(service_id)


async def test_unknown_services_are_reported_and_cannot_be_applied(data_dir: Path) -> None:
    local = runtime(data_dir, "clickhouse-server")

    observation = await local.observe("svc-1")
    with pytest.raises(RuntimeFailure, match="does not exist"):
        await local.apply(SPEC)
    await local.stop("svc-1")
    await local.delete("svc-1")

    assert not observation.running
    assert observation.reason == "service svc-1 was never started here"
    assert await local.list_service_ids() == []


def test_listen_host_must_be_an_address_and_a_wildcard_needs_an_advertised_host(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="advertised_host"):
        LocalClickHouseRuntime(tmp_path, "clickhouse", "0.0.0.0", internal_password=str)  # noqa: S104 - nothing listens
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        LocalClickHouseRuntime(tmp_path, "clickhouse", "localhost", internal_password=str)

    local = LocalClickHouseRuntime(tmp_path, "clickhouse", "::", "db.example.com", internal_password=str)

    assert local.advertised_host == "db.example.com"
    assert local.config_root == "clickhouse"
    assert local.ca_path == tmp_path.resolve() / "ca" / "ca.pem"


def test_the_runtime_is_the_one_settings_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path, clickhouse_binary="/opt/clickhouse", service_start_timeout_seconds=7)
    local = clickhouse_runtime(settings, SecretHasher(b"k" * 32))

    assert isinstance(local, LocalClickHouseRuntime)
    assert (local.data_dir, local.binary, local.start_timeout) == (tmp_path.resolve(), "/opt/clickhouse", 7)
    monkeypatch.setenv("CLICKPLANE_CLICKHOUSE_RUNTIME", "kubernetes")
    monkeypatch.setenv("CLICKPLANE_KUBERNETES_NAMESPACE", "services")
    kubernetes = clickhouse_runtime(Settings(data_dir=tmp_path), SecretHasher(b"k" * 32))
    assert isinstance(kubernetes, KubernetesClickHouseRuntime)
    assert (kubernetes.options.namespace, kubernetes.api.namespace) == ("services", "services")
    monkeypatch.setenv("CLICKPLANE_CLICKHOUSE_RUNTIME", "nomad")
    with pytest.raises(ValidationError, match="clickhouse_runtime"):
        Settings()


async def test_a_backup_or_restore_from_another_scheme_than_file_is_refused(data_dir: Path) -> None:
    local = runtime(data_dir, "/nonexistent/clickhouse")

    with pytest.raises(RuntimeFailure, match="'s3://bucket/b1': the local runtime supports the file scheme only"):
        await local.backup("svc-1", "s3://bucket/b1")
    with pytest.raises(RuntimeFailure, match="'s3://bucket/b1': the local runtime supports the file scheme only"):
        await local.start(replace(SPEC, restore_from="s3://bucket/b1"))


async def test_the_specs_binary_is_launched_instead_of_the_runtimes(tmp_path: Path, data_dir: Path) -> None:
    default = fake_binary(tmp_path / "default", "clickhouse-server", "sys.exit(1)")
    channel = fake_binary(tmp_path / "channel", "clickhouse-server", "print('channel binary'); sys.exit(4)")

    with pytest.raises(RuntimeFailure, match="channel binary") as failure:
        await runtime(data_dir, default).ensure_running(replace(SPEC, binary=channel))

    assert "exited with status 4" in str(failure.value)
    assert (data_dir / "services" / "svc-1" / "binary").read_text() == channel


async def test_a_binary_taking_another_config_root_is_refused(tmp_path: Path, data_dir: Path) -> None:
    default = fake_binary(tmp_path / "default", "clickhouse-server", "sys.exit(1)")
    modern = fake_binary(tmp_path / "modern", "clickhouse", "sys.exit(1)")

    with pytest.raises(RuntimeFailure, match="config rooted at <clickhouse>"):
        await runtime(data_dir, default).ensure_running(replace(SPEC, binary=modern))
