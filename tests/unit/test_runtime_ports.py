"""Choosing and recording a service's ports."""

from __future__ import annotations

import socket
from pathlib import Path

from clickplane.runtime.ports import Ports, choose_ports, load_ports, port_is_free, save_ports


def test_fresh_ports_are_distinct_and_avoid_taken_ones() -> None:
    taken: set[int] = set()
    first = choose_ports("127.0.0.1", None, taken)
    second = choose_ports("127.0.0.1", None, taken)

    assert len(set(first.values()) | set(second.values())) == 8
    assert taken == set(first.values()) | set(second.values())


def test_free_current_ports_are_kept_and_held_ones_replaced() -> None:
    current = choose_ports("127.0.0.1", None, set())
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", current.https))
        holder.listen()
        assert not port_is_free("127.0.0.1", current.https)

        chosen = choose_ports("127.0.0.1", current, {current.native})

    assert chosen.http == current.http
    assert chosen.native_secure == current.native_secure
    assert chosen.https != current.https
    assert chosen.native != current.native


def test_ports_survive_a_round_trip_and_a_bad_record_reads_as_none(tmp_path: Path) -> None:
    ports = Ports(http=1, native=2, https=3, native_secure=4)
    save_ports(tmp_path / "ports.json", ports)
    (tmp_path / "bad.json").write_text('{"http": 1}')

    assert load_ports(tmp_path / "ports.json") == ports
    assert load_ports(tmp_path / "bad.json") is None
    assert load_ports(tmp_path / "missing.json") is None
