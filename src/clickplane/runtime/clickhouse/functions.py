"""Executable user-defined functions on a local server: which servers have them (told by the server's own
version), and their files: a <function> config per function, which the server's config globs, and a directory of
the function's archive files, which its command runs."""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from clickplane.runtime.clickhouse.config import render_function_config
from clickplane.runtime.clickhouse.interface import ExecutableFunction
from clickplane.runtime.clickhouse.setup import ServicePaths
from clickplane.runtime.files import write_atomically, write_if_changed

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


@dataclass
class StagedFunction:
    """A function's new files and config in place, and what they replaced, kept until `commit` (the server loaded
    the new one) or `restore` (it did not: the earlier version, or nothing, is back)."""

    paths: ServicePaths
    name: str
    previous_files: Path | None  # the earlier version's directory, moved aside
    previous_config: bytes | None

    def commit(self) -> None:
        """Forget the earlier version's files. Blocking."""
        if self.previous_files is not None:
            shutil.rmtree(self.previous_files.parent, ignore_errors=True)

    def restore(self) -> None:
        """Put back the earlier version's files and config, or remove the new ones when there was none.
        Blocking."""
        scripts = self.paths.user_scripts / self.name
        config = self.paths.function_config(self.name)
        if self.previous_config is None:
            config.unlink(missing_ok=True)
        else:
            write_atomically(config, self.previous_config)
        aside = _aside(self.paths, self.name)
        if scripts.exists():
            scripts.rename(aside)
        if self.previous_files is not None:
            self.previous_files.rename(scripts)
            self.previous_files.parent.rmdir()
        shutil.rmtree(aside.parent, ignore_errors=True)


def stage_function(paths: ServicePaths, function: ExecutableFunction) -> StagedFunction:
    """Put the function's files in place of an earlier version's: written into a directory of their own, then
    renamed over it (the earlier one is kept aside), then its config, which the server reads on SYSTEM RELOAD
    FUNCTIONS. OSError, with nothing changed, when the files cannot be written. Blocking."""
    paths.user_scripts.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths.functions.mkdir(exist_ok=True, mode=0o700)
    scripts = paths.user_scripts / function.name
    config = paths.function_config(function.name)
    staging = Path(tempfile.mkdtemp(dir=paths.user_scripts, prefix=f".{function.name}.new-"))
    try:
        for name, content in function.files:
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            target.write_bytes(content)
            if name == function.command_file:
                target.chmod(target.stat().st_mode | stat.S_IXUSR)
        previous_config = config.read_bytes() if config.exists() else None
        previous_files = None
        if scripts.exists():
            previous_files = _aside(paths, function.name)
            scripts.rename(previous_files)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staged = StagedFunction(paths, function.name, previous_files, previous_config)
    try:
        staging.rename(scripts)
        write_if_changed(config, render_function_config(function, scripts))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        staged.restore()
        raise
    return staged


def _aside(paths: ServicePaths, name: str) -> Path:
    """A new name for a directory moved out of a function's way, beside it (the server looks at no dot name)."""
    return Path(tempfile.mkdtemp(dir=paths.user_scripts, prefix=f".{name}.old-")) / "files"


def remove_function_files(paths: ServicePaths, name: str) -> None:
    """Remove the function's config and files; nothing to remove is not a failure. Blocking."""
    paths.function_config(name).unlink(missing_ok=True)
    shutil.rmtree(paths.user_scripts / name, ignore_errors=True)
    if paths.user_scripts.is_dir():  # what a crash during an install left aside
        for left in paths.user_scripts.glob(f".{name}.*-*"):
            shutil.rmtree(left, ignore_errors=True)
