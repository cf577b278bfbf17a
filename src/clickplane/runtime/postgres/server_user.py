"""Who PostgreSQL's programs run as. initdb and postgres refuse to run as root: a control plane running as root
runs them as an unprivileged system user of their own, which must be able to reach the files they use."""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.process import server_environment


@dataclass(frozen=True)
class ServerUser:
    """The user PostgreSQL's programs run as; `switch` when that is not the control plane's own (it runs as root)."""

    name: str
    uid: int
    gid: int
    switch: bool
    # The user's home directory (HOME for its programs when switched to it: libpq looks there for a client
    # certificate, and fails on one it may not read, as root's).
    home: str = "/"

    def own(self, path: Path) -> None:
        """Give `path` to this user (nothing to do when the programs run as the control plane)."""
        if self.switch:
            os.chown(path, self.uid, self.gid)

    def run(self, argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a program to its end as this user; its output as text. subprocess.TimeoutExpired past `timeout`."""
        identity = self._identity()
        return subprocess.run(argv, cwd=cwd, env=self._environment(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, check=False,
                              user=identity.user, group=identity.group, extra_groups=identity.extra_groups,
                              preexec_fn=_ended_with_its_starter())

    def start(self, argv: list[str], cwd: Path, environment: Mapping[str, str]) -> subprocess.Popen[str]:
        """Start a program as this user, with `environment` added to its own, for the caller to read its output
        (text) from pipes as it comes and to wait for it. Its error output must stay short (the caller reads it
        once the program is done)."""
        identity = self._identity()
        return subprocess.Popen(argv, cwd=cwd, env={**self._environment(), **environment},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                user=identity.user, group=identity.group, extra_groups=identity.extra_groups,
                                preexec_fn=_ended_with_its_starter())

    def spawn(self, argv: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
        """Start a server as this user, in a session of its own (it outlives the control plane, and a Ctrl-C
        of the control plane does not reach it), its output appended to `log` (private: what it logs may tell of
        users' statements)."""
        identity = self._identity()
        with os.fdopen(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as output:
            return subprocess.Popen(argv, cwd=cwd, env=self._environment(), stdin=subprocess.DEVNULL,
                                    stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                                    user=identity.user, group=identity.group, extra_groups=identity.extra_groups)

    def _environment(self) -> dict[str, str]:
        environment = program_environment()
        if self.switch:
            environment["HOME"] = self.home
        return environment

    def _identity(self) -> _Identity:
        if not self.switch:
            return _Identity(None, None, None)
        return _Identity(self.uid, self.gid, [])  # none of root's supplementary groups

    def may_pass_through(self, directory: Path) -> bool:
        """Whether this user may reach what is inside `directory` (its search bit for the user's class), as the
        kernel decides: owner's bits for its owner, group's for its group (the user's only one), others' else."""
        info = directory.stat()
        if info.st_uid == self.uid:
            return bool(info.st_mode & stat.S_IXUSR)
        if info.st_gid == self.gid:
            return bool(info.st_mode & stat.S_IXGRP)
        return bool(info.st_mode & stat.S_IXOTH)

    def check_reaches(self, path: Path, what: str) -> None:
        """RuntimeFailure naming the first directory on the way to `path` (itself included) that this user
        cannot pass through: initdb and postgres would fail later with a far less telling error."""
        if not self.switch:
            return
        path = path.resolve()
        for directory in (*reversed(path.parents), path):
            if not self.may_pass_through(directory):
                raise RuntimeFailure(f"PostgreSQL's user {self.name} cannot reach {what} {path}: it may not pass "
                                     f"through {directory} (allow it with `chmod o+x {directory}`)")


class _Identity(NamedTuple):
    """subprocess's arguments that switch a program's user (all None: it runs as the control plane)."""

    user: int | None
    group: int | None
    extra_groups: list[int] | None


def server_user(os_user: str | None) -> ServerUser:
    """Who PostgreSQL runs as: the control plane's own user, unless that is root; then `os_user`, which must
    exist. RuntimeFailure saying what to do otherwise."""
    if os.geteuid() != 0:
        return ServerUser(pwd.getpwuid(os.geteuid()).pw_name, os.geteuid(), os.getegid(), switch=False)
    if os_user is None:
        raise RuntimeFailure("PostgreSQL refuses to run as root, and no user to run it as is configured")
    try:
        account = pwd.getpwnam(os_user)
    except KeyError:
        raise RuntimeFailure(f"PostgreSQL refuses to run as root and its user {os_user} does not exist: create it "
                             f"with `useradd --system --no-create-home --shell /usr/sbin/nologin {os_user}`") from None
    if account.pw_uid == 0:
        raise RuntimeFailure(f"PostgreSQL refuses to run as root, which {os_user} is: configure another user")
    return ServerUser(os_user, account.pw_uid, account.pw_gid, switch=True, home=account.pw_dir or "/")


def program_environment() -> dict[str, str]:
    """The servers' environment (process.server_environment) without libpq's and the server's variables (PGDATA,
    PGPORT, PGOPTIONS...), which would override what the runtime says."""
    return {name: value for name, value in server_environment().items() if not name.startswith("PG")}


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _ended_with_its_starter() -> Callable[[], None] | None:
    """For a program run to its end (initdb, pg_basebackup, pg_waldump): what the child does before it becomes the
    program, so that the kernel kills it when the control plane's thread that started it ends, as when the control
    plane is killed. Left running, such a program would go on writing in a directory that the next control plane
    makes anew (a second initdb in the same `cluster.new`). Linux only; elsewhere nothing is done."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    starter = os.getpid()

    def end_with_starter() -> None:
        # Set after subprocess has switched users: a change of credentials clears it.
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != starter:  # the starter was gone before the setting took
            os._exit(1)

    return end_with_starter
