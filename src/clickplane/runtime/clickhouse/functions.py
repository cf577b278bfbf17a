"""Executable user-defined functions on a local server: which servers have them (told by the server's own
version), and their files: a <function> config per function, which the server's config globs, and a directory of
the function's archive files, which its command runs."""

from __future__ import annotations

import re
import shutil
import stat

from clickplane.runtime.clickhouse.config import render_function_config
from clickplane.runtime.clickhouse.interface import ExecutableFunction
from clickplane.runtime.clickhouse.setup import ServicePaths
from clickplane.runtime.files import write_if_changed

# The first release with executable user-defined functions (user_defined_executable_functions_config, SYSTEM
# RELOAD FUNCTIONS): 21.11.
FIRST_WITH_FUNCTIONS = (21, 11)
_VERSION = re.compile(r"(\d+)\.(\d+)")


def unsupported_reason(version: str) -> str | None:
    """Why a server of this version (what `SELECT version()` answered) cannot run executable functions; None
    when it can."""
    found = _VERSION.match(version.strip())
    if found is None:
        return f"its ClickHouse reports version {version.strip()!r}, which is not one clickplane can read"
    if (int(found[1]), int(found[2])) < FIRST_WITH_FUNCTIONS:
        first = ".".join(map(str, FIRST_WITH_FUNCTIONS))
        return (f"its ClickHouse is {version.strip()}, which has no executable user-defined functions (they came "
                f"with ClickHouse {first})")
    return None


def write_function(paths: ServicePaths, function: ExecutableFunction) -> None:
    """Put the function's files in place (replacing an earlier version's), then its config, which the server
    reads on SYSTEM RELOAD FUNCTIONS. Blocking."""
    scripts = paths.user_scripts / function.name
    if scripts.exists():
        shutil.rmtree(scripts)
    scripts.mkdir(parents=True, mode=0o700)
    for name, content in function.files:
        target = scripts / name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.write_bytes(content)
        if name == function.command_file:
            target.chmod(target.stat().st_mode | stat.S_IXUSR)
    paths.functions.mkdir(exist_ok=True, mode=0o700)
    write_if_changed(paths.function_config(function.name), render_function_config(function, scripts))


def remove_function_files(paths: ServicePaths, name: str) -> None:
    """Remove the function's config and files; nothing to remove is not a failure. Blocking."""
    paths.function_config(name).unlink(missing_ok=True)
    shutil.rmtree(paths.user_scripts / name, ignore_errors=True)
