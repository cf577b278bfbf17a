"""The build of a function's archive: what it must hold for each runtime, and what it must not."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from clickplane.udfs.archive import MAX_FILES, ArchiveProblem, build, command_file, looks_like_zip

UPPER = b"import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n"


def zipped(files: dict[str, bytes]) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return data.getvalue()


def refused(data: bytes, runtime: str = "python3.11", machine: str | None = None) -> str:
    with pytest.raises(ArchiveProblem) as caught:
        build(data, runtime, machine)
    return str(caught.value)


def test_a_python_archive_runs_its_main_py_with_every_file_kept() -> None:
    built = build(zipped({"main.py": UPPER, "lib/helper.py": b"X = 1\n"}), "python3.11")
    assert built.command_file == "main.py"
    assert dict(built.files) == {"main.py": UPPER, "lib/helper.py": b"X = 1\n"}


def test_a_native_archive_runs_the_main_of_this_machine() -> None:
    files = {"amd64/main": b"\x7fELF...", "arm64/main": b"#!/bin/sh\ncat\n"}
    assert build(zipped(files), "native", "x86_64").command_file == "amd64/main"
    assert build(zipped(files), "native", "aarch64").command_file == "arm64/main"
    assert command_file("native", "AMD64") == "amd64/main"
    assert "amd64/main" in refused(zipped({"arm64/main": b"\x7fELF"}), "native", "x86_64")
    assert "neither an ELF" in refused(zipped({"amd64/main": b"echo hi"}), "native", "x86_64")


def test_the_command_must_be_at_the_root_and_compile() -> None:
    assert "has no main.py" in refused(zipped({"upper/main.py": UPPER}))
    assert "does not compile as Python" in refused(zipped({"main.py": b"def broken(:\n"}))
    assert "does not compile as Python" in refused(zipped({"main.py": b"x = '\0'\n" + b"\0"}))


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil", "a\\..\\b", "c:evil"])
def test_no_file_may_reach_outside_the_function(name: str) -> None:
    assert "not a relative path inside the archive" in refused(zipped({"main.py": UPPER, name: b"x"}))


def test_what_is_not_a_zip_an_empty_one_a_bomb_and_too_many_files_are_refused() -> None:
    assert not looks_like_zip(b"PK but not really")
    assert looks_like_zip(zipped({"main.py": UPPER}))
    assert "not a ZIP file" in refused(b"not a zip at all")
    assert "holds no files" in refused(zipped({}))
    assert "more than 4 times the archive" in refused(zipped({"main.py": UPPER, "zeros": b"\0" * 10_000_000}))
    many = zipped({"main.py": UPPER, **{f"f{n}": b"" for n in range(MAX_FILES)}})
    assert f"more than {MAX_FILES}" in refused(many)


def test_an_encrypted_entry_is_refused() -> None:
    data = bytearray(zipped({"main.py": UPPER}))
    # Set the encryption bit of the entry's general purpose flags, in its local and central headers.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        data[at] |= 0x1
    assert "encrypted" in refused(bytes(data))


def stored(files: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", method) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return data.getvalue()


@pytest.mark.parametrize(("method", "said"), [(zipfile.ZIP_BZIP2, "12"), (zipfile.ZIP_LZMA, "14")])
def test_only_stored_and_deflated_entries_are_taken(method: int, said: str) -> None:
    problem = refused(stored({"main.py": UPPER}, method))
    assert f"method {said}" in problem
    assert "stored and deflated" in problem
    assert build(stored({"main.py": UPPER}), "python3.11").command_file == "main.py"


def lying(files: dict[str, bytes], declared: int) -> bytes:
    """A deflated archive whose entries' headers say they hold `declared` bytes unpacked."""
    data = bytearray(zipped(files))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        while at != -1:
            data[at + offset:at + offset + 4] = declared.to_bytes(4, "little")
            at = data.find(signature, at + 4)
    return bytes(data)


def test_a_bomb_whose_headers_lie_about_its_size_is_never_unpacked_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    outputs: list[int] = []
    original = zipfile._get_decompressor  # type: ignore[attr-defined]

    class Counted:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out: bytes = self.inner.decompress(data, max_length)
            outputs.append(len(out))
            return out

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    monkeypatch.setattr(zipfile, "_get_decompressor", lambda method: Counted(original(method)))
    problem = refused(lying({"main.py": b"\0" * 50_000_000}, 10))
    assert "Bad CRC-32" in problem or "more than its header says" in problem
    assert max(outputs) <= 1 << 20  # read a chunk at a time, not decompressed whole and then cut


def test_main_py_is_compiled_only_up_to_a_mebibyte_and_pathological_source_is_a_problem() -> None:
    big = b"x = 1\n" * 200_000
    assert "more than 1048576" in refused(stored({"main.py": big}))
    assert "does not compile as Python" in refused(stored({"main.py": b"-" * 1_000_000}))  # MemoryError
    assert "does not compile as Python" in refused(stored({"main.py": b"a" + b"+a" * 300_000}))  # RecursionError


@pytest.mark.parametrize(("names", "said"), [
    (["."], "not a normalized path"),
    (["./main2.py"], "not a normalized path"),
    (["lib//x.py"], "not a normalized path"),
    (["lib/./x.py"], "not a normalized path"),
    (["x" * 256 + ".py"], "longer than 255 bytes"),
    (["lib", "lib/x.py"], "lib is a file"),
])
def test_paths_that_no_directory_can_hold_are_refused(names: list[str], said: str) -> None:
    assert said in refused(stored({"main.py": UPPER, **dict.fromkeys(names, b"")}))
