"""Writing the files a running ClickHouse server reads."""

from __future__ import annotations

import os
from pathlib import Path


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
    Returns whether the file was written."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_atomically(path, data, mode)
    return True
