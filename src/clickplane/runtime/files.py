"""Writing the files a running ClickHouse server reads."""

from __future__ import annotations

import os
from pathlib import Path

_SECOND_NS = 1_000_000_000


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` with `mode`. A reader (ClickHouse polls its users file) sees the old
    content or the new, never a part, and a private file is never readable by others, even briefly."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.chmod(temporary, mode)  # os.open's mode passes through the umask, and an old file keeps its own
    os.replace(temporary, path)


def write_if_changed(path: Path, data: bytes, mode: int = 0o600) -> bool:
    """Write only when the content differs, so an unchanged file does not make ClickHouse reload it.
    Returns whether the file was written.

    ClickHouse 18.16 notices a changed file by its modification time in whole seconds: a file
    rewritten within the second it was last read would look unchanged. The new file's mtime is
    therefore moved to a later second than the old one's when needed.
    """
    try:
        if path.read_bytes() == data:
            return False
        previous_second = path.stat().st_mtime_ns // _SECOND_NS
    except FileNotFoundError:
        previous_second = None
    write_atomically(path, data, mode)
    if previous_second is not None:
        written = path.stat()
        if written.st_mtime_ns // _SECOND_NS <= previous_second:
            later = (previous_second + 1) * _SECOND_NS
            os.utime(path, ns=(written.st_atime_ns, later))
    return True
