"""Executable functions on a local server: which versions have them, the <function> config rendered for one, and
its files put in place and removed."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clickplane.runtime.clickhouse.config import render_function_config, render_server_config
from clickplane.runtime.clickhouse.functions import remove_function_files, unsupported_reason, write_function
from clickplane.runtime.clickhouse.interface import ExecutableFunction
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
    write_function(paths, UPPER)
    scripts = paths.user_scripts / "upper"
    assert (scripts / "lib" / "util.py").read_bytes() == b"X = 1\n"
    assert (scripts / "main.py").stat().st_mode & 0o100
    assert b"<name>upper</name>" in paths.function_config("upper").read_bytes()
    write_function(paths, dataclasses.replace(UPPER, files=(("main.py", b"print(2)\n"),)))
    assert not (scripts / "lib").exists()  # an earlier version's files go
    remove_function_files(paths, "upper")
    assert not scripts.exists()
    assert not paths.function_config("upper").exists()
    remove_function_files(paths, "upper")  # nothing left to remove: not a failure
