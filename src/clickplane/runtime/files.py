"""Writing files: those a running ClickHouse server reads, and private ones (keys, the store) that no other local
user may read, even for a moment."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SECOND_NS = 1_000_000_000


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` with `mode`. A reader (ClickHouse polls its users file) sees the old
    content or the new, never a part, and a private file is never readable by others, even briefly.

    The content goes to a new file of a name no one else can have made (mkstemp: O_CREAT | O_EXCL, so never
    through a link planted at a name known in advance), private from its first byte, then renamed over `path`
    (which replaces a link there rather than writing through it)."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            os.fchmod(file.fileno(), mode)  # mkstemp makes it 0600; a public file (a certificate) says so
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def create_private(path: Path, data: bytes) -> bool:
    """Create `path` holding `data`, readable by its owner only from the first byte; False, and nothing
    written, when it exists already (another process made it first). It appears whole: the content is written
    to a private file of a name of its own, then linked in place, which fails if anything is there."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True


def private_directory(path: Path) -> None:
    """Make `path` (and its parents) if missing, the directory itself readable by its owner only (0700). One
    that exists is left as it is: it may be shared on purpose (the files clickplane writes in it are private)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    os.chmod(path, 0o700)  # mkdir's mode passes through the umask, which may take bits away, never add them


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
