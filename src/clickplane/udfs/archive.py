"""A function's archive, checked as its build: a ZIP (clickhousectl zips the function's directory) whose files
hold the command its runtime runs at the archive's root, as clickhousectl's own help says (python3.11: main.py;
native: amd64/main and arm64/main, of which the one for this machine is run), with no path reaching outside it, no
encryption, and no more unpacked than a limit. A Python command must compile; a native one must be an ELF
executable or a script with a #! line.

Each entry is read in chunks and abandoned as soon as it holds more than its header says or the archive's files
more than the limit, and only the compressions whose reading is bounded that way (stored, deflated) are taken."""

from __future__ import annotations

import io
import platform
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

# More files than any function's sources and libraries need; each is written to the service's disk.
MAX_FILES = 1000
# How much more than the archive its files may hold unpacked: ZIP compresses text about 4:1; a bomb far more.
UNPACKED_RATIO = 4
# The largest main.py compiled: far more than any function's code; compile() of larger source is costly.
MAX_MAIN_PY_BYTES = 1 << 20
# The longest name of one component of a path, as Linux file systems allow it (NAME_MAX).
MAX_COMPONENT_BYTES = 255
# The compressions read: zipfile decompresses others (bzip2, LZMA) without a bound on what one read gives.
COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_CHUNK = 64 << 10


class ArchiveProblem(Exception):
    """Why an archive cannot be built; the message says what to change."""


@dataclass(frozen=True)
class Archive:
    """The files of a built archive, by their path in the function's directory, and which of them is the command."""

    files: tuple[tuple[str, bytes], ...]
    command_file: str


# clickhousectl's names of the architectures a native function is built for, by what Python calls them.
ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def command_file(runtime: str, machine: str | None = None) -> str:
    """The file a runtime runs, for this machine (or `machine`, as platform.machine() names one)."""
    if runtime == "python3.11":
        return "main.py"
    name = (machine or platform.machine()).lower()
    return f"{ARCHITECTURES.get(name, name)}/main"


def looks_like_zip(data: bytes) -> bool:
    return zipfile.is_zipfile(io.BytesIO(data))


def build(data: bytes, runtime: str, machine: str | None = None) -> Archive:
    """The archive's files and its command, or ArchiveProblem saying what is wrong with it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = [entry for entry in archive.infolist() if not entry.is_dir()]
            max_unpacked = len(data) * UNPACKED_RATIO
            _check_entries(entries, max_unpacked)
            files: dict[str, bytes] = {}
            unpacked = 0
            for entry in entries:
                files[entry.filename] = _read(archive, entry, max_unpacked - unpacked)
                unpacked += len(files[entry.filename])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as error:
        raise ArchiveProblem(f"the archive is not a ZIP file that can be read ({error}); upload a ZIP archive of "
                             "the function's directory") from None
    command = command_file(runtime, machine)
    if command not in files:
        raise ArchiveProblem(f"the archive has no {command}, which runtime {runtime} runs here; put it at the "
                             "archive's root (zip the function's directory from within it)")
    _check_command(command, files[command], runtime)
    return Archive(tuple(sorted(files.items())), command)


def _check_entries(entries: list[zipfile.ZipInfo], max_unpacked: int) -> None:
    if not entries:
        raise ArchiveProblem("the archive holds no files; zip the function's directory")
    if len(entries) > MAX_FILES:
        raise ArchiveProblem(f"the archive holds {len(entries)} files, more than {MAX_FILES}; leave out what the "
                             "function does not run")
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > max_unpacked:
        raise ArchiveProblem(f"the archive's files hold {unpacked} bytes unpacked, more than {UNPACKED_RATIO} "
                             "times the archive; leave out what the function does not run")
    for entry in entries:
        path = PurePosixPath(entry.filename)
        if entry.flag_bits & 0x1:
            raise ArchiveProblem(f"{entry.filename} is encrypted; upload an archive without a password")
        if path.is_absolute() or ".." in path.parts or "\\" in entry.filename or ":" in entry.filename:
            raise ArchiveProblem(f"{entry.filename!r} is not a relative path inside the archive; zip the "
                                 "function's directory from within it")
        if entry.compress_type not in COMPRESSIONS:
            raise ArchiveProblem(f"{entry.filename} is compressed with method {entry.compress_type}, and only "
                                 f"{' and '.join(COMPRESSIONS.values())} entries are taken; zip it again without "
                                 "bzip2 or LZMA (zip's default, deflate, is taken)")
        _check_path(entry.filename)
    names = {entry.filename for entry in entries}
    for name in names:
        parts = name.split("/")
        for end in range(1, len(parts)):
            if "/".join(parts[:end]) in names:
                raise ArchiveProblem(f"{'/'.join(parts[:end])} is a file, and {name} needs a directory of that "
                                     "name; rename one of them")


def _check_path(name: str) -> None:
    """A path written as the function's directory will hold it: components neither empty nor `.`, each a name
    the file system takes."""
    for part in name.split("/"):
        if part in ("", "."):
            raise ArchiveProblem(f"{name!r} is not a normalized path (an empty or `.` component); zip the "
                                 "function's directory from within it")
        if len(part.encode()) > MAX_COMPONENT_BYTES:
            raise ArchiveProblem(f"{name!r} has a component longer than {MAX_COMPONENT_BYTES} bytes, which no file "
                                 "system takes; shorten it")


def _read(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, allowed: int) -> bytes:
    """The entry's content, read a chunk at a time: ArchiveProblem as soon as it holds more than its header
    declares or than `allowed` (what the archive's files may still hold)."""
    limit = min(entry.file_size, allowed)
    content = bytearray()
    with archive.open(entry) as stream:
        while chunk := stream.read(_CHUNK):
            content += chunk
            if len(content) > limit:
                raise ArchiveProblem(f"{entry.filename} holds more than its header says ({entry.file_size} "
                                     f"bytes) or than {UNPACKED_RATIO} times the archive; upload an archive "
                                     "zip makes")
    return bytes(content)


def _check_command(name: str, content: bytes, runtime: str) -> None:
    if runtime == "python3.11":
        if len(content) > MAX_MAIN_PY_BYTES:
            raise ArchiveProblem(f"{name} holds {len(content)} bytes, more than {MAX_MAIN_PY_BYTES}, the most "
                                 "compiled; move code into other modules beside it")
        try:
            compile(content, name, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as error:
            raise ArchiveProblem(f"{name} does not compile as Python: {error}; fix it and upload again") from None
        except (RecursionError, MemoryError, OverflowError) as error:
            raise ArchiveProblem(f"{name} does not compile as Python: it is too deeply nested or too large "
                                 f"({type(error).__name__}); simplify it and upload again") from None
    elif not (content.startswith(b"\x7fELF") or content.startswith(b"#!")):
        raise ArchiveProblem(f"{name} is neither an ELF executable nor a script with a #! line, which runtime "
                             "native runs; build it for Linux, or give it an interpreter line")
