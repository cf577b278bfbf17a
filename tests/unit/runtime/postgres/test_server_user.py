"""Who PostgreSQL's programs run as, and whether that user can reach the directories they need."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres import server_user as module
from clickplane.runtime.postgres.server_user import ServerUser, program_environment, server_user

OTHER_ID = 54321  # a uid and gid that own nothing here


def _directory(path: Path, mode: int) -> Path:
    path.mkdir()
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("mode", "passes"), [(0o701, True), (0o700, False), (0o770, False)])
def test_another_user_passes_through_by_the_others_bit(tmp_path: Path, mode: int, passes: bool) -> None:
    stranger = ServerUser("stranger", OTHER_ID, OTHER_ID, switch=True)
    assert stranger.may_pass_through(_directory(tmp_path / "d", mode)) is passes


@pytest.mark.parametrize(("mode", "passes"), [(0o710, True), (0o701, False)])
def test_a_user_of_the_directory_s_group_passes_through_by_the_group_bit(tmp_path: Path, mode: int,
                                                                         passes: bool) -> None:
    member = ServerUser("member", OTHER_ID, os.getgid(), switch=True)
    assert member.may_pass_through(_directory(tmp_path / "d", mode)) is passes


def test_the_owner_passes_through_by_the_owner_bit_whatever_the_others(tmp_path: Path) -> None:
    owner = ServerUser("owner", os.getuid(), OTHER_ID, switch=True)
    assert not owner.may_pass_through(_directory(tmp_path / "d", 0o011))
    assert owner.may_pass_through(_directory(tmp_path / "e", 0o100))


def test_the_first_directory_in_the_way_is_named_with_the_fix(tmp_path: Path) -> None:
    # The owner's bits decide for each directory here: the test's own directories are its user's.
    owner = ServerUser("owner", os.getuid(), os.getgid(), switch=True)
    blocked = _directory(tmp_path / "blocked", 0o600)
    target = blocked / "data"
    try:
        with pytest.raises(RuntimeFailure, match=rf"may not pass through {blocked} \(allow it with `chmod o\+x "
                                                 rf"{blocked}`\)"):
            owner.check_reaches(target, "its data")
        blocked.chmod(0o700)
        target.mkdir()
        owner.check_reaches(target, "its data")
    finally:
        blocked.chmod(0o700)


def test_programs_of_the_control_plane_s_own_user_need_no_check(tmp_path: Path) -> None:
    ServerUser("us", OTHER_ID, OTHER_ID, switch=False).check_reaches(_directory(tmp_path / "d", 0o700), "x")


def test_as_root_the_configured_user_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module.os, "geteuid", lambda: 0)
    with pytest.raises(RuntimeFailure, match="no user to run it as is configured"):
        server_user(None)

    def missing(name: str) -> pwd.struct_passwd:
        raise KeyError(name)

    monkeypatch.setattr(module.pwd, "getpwnam", missing)
    with pytest.raises(RuntimeFailure, match="useradd --system --no-create-home --shell /usr/sbin/nologin pgu"):
        server_user("pgu")


def test_as_root_the_user_is_switched_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module.os, "geteuid", lambda: 0)
    account = pwd.struct_passwd(("pgu", "x", OTHER_ID, OTHER_ID + 1, "", "/home/pgu", "/usr/sbin/nologin"))
    monkeypatch.setattr(module.pwd, "getpwnam", lambda name: account)
    assert server_user("pgu") == ServerUser("pgu", OTHER_ID, OTHER_ID + 1, switch=True, home="/home/pgu")


def test_not_as_root_programs_run_as_the_control_plane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module.os, "geteuid", lambda: OTHER_ID)
    monkeypatch.setattr(module.pwd, "getpwuid", lambda uid: pwd.struct_passwd(("me", "x", uid, 7, "", "/", "")))
    user = server_user("ignored")
    assert (user.name, user.uid, user.switch) == ("me", OTHER_ID, False)


def test_programs_get_none_of_libpq_s_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPORT", "1")
    monkeypatch.setenv("PGDATA", "/elsewhere")
    monkeypatch.setenv("KEPT", "yes")
    monkeypatch.setenv("CLICKPLANE_DATABASE_URL", "postgresql://clickplane:secret@store/clickplane")
    environment = program_environment()
    assert "CLICKPLANE_DATABASE_URL" not in environment
    assert "PGPORT" not in environment
    assert "PGDATA" not in environment
    assert environment["KEPT"] == "yes"


def test_a_program_run_to_its_end_is_killed_with_the_control_plane_that_started_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    # A stand-in control plane: it runs a long program through ServerUser.run, and is killed while it waits.
    starter = subprocess.Popen([sys.executable, "-c", (
        "import pathlib, sys\n"
        "from clickplane.runtime.postgres.server_user import ServerUser\n"
        "ServerUser('us', 0, 0, switch=False).run(['sh', '-c', f'echo $$ > {sys.argv[1]}.new; "
        "mv {sys.argv[1]}.new {sys.argv[1]}; exec sleep 600'], pathlib.Path('.'), 600)\n"), str(pid_file)])
    try:
        _poll(pid_file.exists, "the program to start")
        program = int(pid_file.read_text())
        starter.kill()
        starter.wait()
        _poll(lambda: not _alive(program), f"program {program} to be killed with its starter")
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()


def _poll(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
