"""Executable functions on a local server: which versions have them, the <function> config rendered for one, and
its files put in place and removed."""

from __future__ import annotations

import asyncio
import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.config import render_function_config, render_server_config
from clickplane.runtime.clickhouse.functions import remove_function_files, stage_function, unsupported_reason
from clickplane.runtime.clickhouse.interface import ExecutableFunction
from clickplane.runtime.clickhouse.local import LocalClickHouseRuntime
from clickplane.runtime.clickhouse.setup import ServicePaths
from tests.unit.runtime.clickhouse.test_config import server_config

UPPER = ExecutableFunction(
    name="upper", type="executable_pool", interpreter="python3", command_file="main.py",
    arguments=(("x", "String"), ("n", "Nullable(UInt8)")), return_type="String", return_name="result",
    format="TabSeparated", command_read_timeout_ms=10000, command_write_timeout_ms=5000, send_chunk_header=False,
    pool_size=3, max_command_execution_time_s=10, deterministic=True,
    files=(("main.py", b"print('hi')\n"), ("lib/util.py", b"X = 1\n")))


@pytest.mark.parametrize(("version", "supported"), [
    ("18.16.1", False), ("21.10.5.3", False), ("21.11.1.1", True), ("24.8.4.13", True), ("25.1", True)])
def test_executable_functions_came_with_21_11(version: str, supported: bool) -> None:
    reason = unsupported_reason(version + "\n")
    assert (reason is None) == supported
    if not supported:
        assert version in (reason or "")
        assert "21.11" in (reason or "")


def test_a_version_that_cannot_be_read_is_said_so() -> None:
    assert "not one clickplane can read" in (unsupported_reason("unknown") or "")


def test_the_function_config_names_its_command_arguments_and_limits() -> None:
    config = ET.fromstring(render_function_config(UPPER, Path("/srv/svc/user_scripts/upper")))  # noqa: S314
    function = config.find("function")
    assert config.tag == "functions"
    assert function is not None
    values = {child.tag: child.text for child in function if child.tag != "argument"}
    assert values == {
        "type": "executable_pool", "name": "upper", "return_type": "String", "return_name": "result",
        "format": "TabSeparated", "command": "python3 /srv/svc/user_scripts/upper/main.py", "execute_direct": "0",
        "command_read_timeout": "10000", "command_write_timeout": "5000", "send_chunk_header": "0",
        "pool_size": "3", "max_command_execution_time": "10", "deterministic": "1"}
    assert [(a.findtext("name"), a.findtext("type")) for a in function.findall("argument")] == [
        ("x", "String"), ("n", "Nullable(UInt8)")]


def test_a_native_command_is_run_itself_and_its_path_is_quoted() -> None:
    native = dataclasses.replace(UPPER, interpreter=None, command_file="amd64/main", pool_size=None,
                                 deterministic=None, return_name=None)
    config = ET.fromstring(render_function_config(native, Path("/srv/my svc/upper")))  # noqa: S314
    assert config.findtext("function/command") == "'/srv/my svc/upper/amd64/main'"
    assert config.find("function/pool_size") is None
    assert config.find("function/return_name") is None


def test_the_server_config_points_at_the_functions() -> None:
    config = ET.fromstring(render_server_config(dataclasses.replace(  # noqa: S314
        server_config("clickhouse"), user_scripts_path=Path("/srv/svc/user_scripts"),
        functions_config=Path("/srv/svc/functions/*_function.xml"))))
    assert config.findtext("user_scripts_path") == "/srv/svc/user_scripts/"
    assert config.findtext("user_defined_executable_functions_config") == "/srv/svc/functions/*_function.xml"


def test_a_function_is_written_replaced_and_removed(tmp_path: Path) -> None:
    paths = ServicePaths(tmp_path / "svc")
    paths.create()
    stage_function(paths, UPPER).commit()
    scripts = paths.user_scripts / "upper"
    assert (scripts / "lib" / "util.py").read_bytes() == b"X = 1\n"
    assert (scripts / "main.py").stat().st_mode & 0o100
    assert b"<name>upper</name>" in paths.function_config("upper").read_bytes()
    stage_function(paths, dataclasses.replace(UPPER, files=(("main.py", b"print(2)\n"),))).commit()
    assert not (scripts / "lib").exists()  # an earlier version's files go
    assert [p.name for p in paths.user_scripts.iterdir()] == ["upper"]  # nothing left aside
    remove_function_files(paths, "upper")
    assert not scripts.exists()
    assert not paths.function_config("upper").exists()
    remove_function_files(paths, "upper")  # nothing left to remove: not a failure


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_staged_version_is_undone_by_its_restore_and_a_first_one_leaves_nothing(tmp_path: Path) -> None:
    paths = ServicePaths(tmp_path / "svc")
    paths.create()
    stage_function(paths, UPPER).commit()
    before, config = tree(paths.user_scripts), paths.function_config("upper").read_bytes()
    staged = stage_function(paths, dataclasses.replace(UPPER, files=(("main.py", b"print(2)\n"),),
                                                       return_type="UInt8"))
    assert (paths.user_scripts / "upper" / "main.py").read_bytes() == b"print(2)\n"
    assert paths.function_config("upper").read_bytes() != config
    staged.restore()
    assert tree(paths.user_scripts) == before
    assert paths.function_config("upper").read_bytes() == config
    remove_function_files(paths, "upper")
    stage_function(paths, UPPER).restore()  # a first install that failed
    assert list(paths.user_scripts.iterdir()) == []
    assert not paths.function_config("upper").exists()


def test_files_that_cannot_be_written_leave_the_deployed_version_in_place(tmp_path: Path) -> None:
    paths = ServicePaths(tmp_path / "svc")
    paths.create()
    stage_function(paths, UPPER).commit()
    before, config = tree(paths.user_scripts), paths.function_config("upper").read_bytes()
    with pytest.raises(OSError, match="lib"):  # a file `lib` and a file under lib/
        stage_function(paths, dataclasses.replace(UPPER, files=(("main.py", b"1\n"), ("lib", b""),
                                                                ("lib/x.py", b""))))
    assert tree(paths.user_scripts) == before
    assert paths.function_config("upper").read_bytes() == config


class FakeServer:
    """A local runtime's SQL, answered: `loads` says whether SYSTEM RELOAD FUNCTIONS loads what is there."""

    def __init__(self, runtime: LocalClickHouseRuntime, version: str = "24.8.1.1", loads: bool = True) -> None:
        self.version, self.loads, self.statements, self.inside = version, loads, list[str](), 0
        self.most_inside = 0

        async def running_url(paths: ServicePaths, why: str) -> str:
            return "http://127.0.0.1:1"

        async def own_sql(service_id: str, url: str, sql: str) -> str:
            self.statements.append(sql)
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            await asyncio.sleep(0.01)
            self.inside -= 1
            if sql == "SELECT version()":
                return self.version
            if sql == "SELECT name FROM system.functions":
                return "upper\n" if self.loads else "lower\n"
            return ""

        runtime._running_url = running_url  # type: ignore[method-assign]
        runtime._own_sql = own_sql  # type: ignore[method-assign]


def local_runtime(tmp_path: Path) -> tuple[LocalClickHouseRuntime, ServicePaths]:
    runtime = LocalClickHouseRuntime(tmp_path, "clickhouse", internal_password=lambda service_id: "p")
    paths = runtime._setup.paths("svc")
    paths.create()
    return runtime, paths


@pytest.mark.anyio
async def test_an_install_the_server_does_not_load_puts_the_deployed_version_back(tmp_path: Path) -> None:
    runtime, paths = local_runtime(tmp_path)
    server = FakeServer(runtime)
    await runtime.install_function("svc", UPPER)
    before, config = tree(paths.user_scripts), paths.function_config("upper").read_bytes()
    server.loads = False
    with pytest.raises(RuntimeFailure, match="did not load function upper"):
        await runtime.install_function("svc", dataclasses.replace(UPPER, files=(("main.py", b"2\n"),)))
    assert tree(paths.user_scripts) == before
    assert paths.function_config("upper").read_bytes() == config
    assert server.statements[-1] == "SYSTEM RELOAD FUNCTIONS"  # the old one loaded again
    await runtime.remove_function("svc", "upper")
    with pytest.raises(RuntimeFailure):  # a first install that fails leaves nothing behind
        await runtime.install_function("svc", UPPER)
    assert list(paths.user_scripts.iterdir()) == []
    assert not paths.function_config("upper").exists()


@pytest.mark.anyio
async def test_files_that_cannot_be_written_are_a_runtime_failure(tmp_path: Path) -> None:
    runtime, _ = local_runtime(tmp_path)
    FakeServer(runtime)
    clash = dataclasses.replace(UPPER, files=(("main.py", b"1\n"), ("lib", b""), ("lib/x.py", b"")))
    with pytest.raises(RuntimeFailure, match="could not be written"):
        await runtime.install_function("svc", clash)


@pytest.mark.anyio
async def test_installs_and_removes_on_one_service_take_turns(tmp_path: Path) -> None:
    runtime, _ = local_runtime(tmp_path)
    server = FakeServer(runtime)
    await asyncio.gather(*(runtime.install_function("svc", UPPER) for _ in range(3)),
                         runtime.remove_function("svc", "upper"))
    assert server.most_inside == 1
