"""The TCP ports of one service: chosen once, recorded, and kept across restarts.

Each engine declares the ports its servers listen on as a subclass of `Ports` (one int field per port), recorded
as a JSON object of those names."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from clickplane.runtime.files import write_atomically


@dataclass(frozen=True)
class Ports:
    """A service's ports, one int field each, in a subclass per engine."""

    def values(self) -> tuple[int, ...]:
        return dataclasses.astuple(self)


P = TypeVar("P", bound=Ports)


def load_ports(path: Path, kind: type[P]) -> P | None:
    """The recorded ports, or None when none were recorded yet (or the record is unreadable)."""
    try:
        recorded = json.loads(path.read_text())
        return kind(**{name: int(recorded[name]) for name in _names(kind)})
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def save_ports(path: Path, ports: Ports) -> None:
    write_atomically(path, json.dumps(dataclasses.asdict(ports), indent=2).encode() + b"\n", mode=0o644)


def choose_ports(host: str, kind: type[P], current: P | None, taken: set[int]) -> P:
    """Keep each current port that nobody else holds and that can still be bound on `host`; pick a
    fresh free port for the others. `taken` holds other services' ports; it gains the chosen ones."""
    chosen: dict[str, int] = {}
    for name in _names(kind):
        port = getattr(current, name) if current is not None else None
        if port is None or port in taken or not port_is_free(host, port):
            port = _fresh_port(host, taken)
        taken.add(port)
        chosen[name] = port
    return kind(**chosen)


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now. SO_REUSEADDR as ClickHouse sets it, so that
    connections of a stopped server lingering in TIME_WAIT do not count as a holder."""
    with _socket(host) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def _fresh_port(host: str, taken: set[int]) -> int:
    # The kernel hands out free ports, but may hand one out again once its probe socket is closed.
    while True:
        with _socket(host) as probe:
            probe.bind((host, 0))
            port: int = probe.getsockname()[1]
        if port not in taken:
            return port


def _socket(host: str) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    return socket.socket(family, socket.SOCK_STREAM)


def _names(kind: type[Ports]) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(kind))
