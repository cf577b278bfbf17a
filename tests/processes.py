"""What tests look for among this machine's processes: servers a test must not leave running."""

from __future__ import annotations

from pathlib import Path


def processes_mentioning(path: Path) -> list[str]:
    """Every process whose command line names `path` (a test's data dir), as `pid: command line`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found
