"""Choosing and recording a service's ports, for any engine's set of them."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

from clickplane.runtime.clickhouse.setup import ClickHousePorts
from clickplane.runtime.ports import Ports, choose_ports, load_ports, port_is_free, save_ports


@dataclass(frozen=True)
class TwoPorts(Ports):
    """An engine's ports other than ClickHouse's."""

    main: int
    admin: int


def test_fresh_ports_are_distinct_and_avoid_taken_ones() -> None:
    taken: set[int] = set()
    first = choose_ports("127.0.0.1", ClickHousePorts, None, taken)
    second = choose_ports("127.0.0.1", TwoPorts, None, taken)

    assert len(set(first.values()) | set(second.values())) == 6
    assert taken == set(first.values()) | set(second.values())


def test_free_current_ports_are_kept_and_held_ones_replaced() -> None:
    current = choose_ports("127.0.0.1", ClickHousePorts, None, set())
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", current.https))
        holder.listen()
        assert not port_is_free("127.0.0.1", current.https)

        chosen = choose_ports("127.0.0.1", ClickHousePorts, current, {current.native})

    assert chosen.http == current.http
    assert chosen.native_secure == current.native_secure
    assert chosen.https != current.https
    assert chosen.native != current.native


def test_ports_survive_a_round_trip_and_a_bad_record_reads_as_none(tmp_path: Path) -> None:
    ports = TwoPorts(main=1, admin=2)
    save_ports(tmp_path / "ports.json", ports)
    (tmp_path / "bad.json").write_text('{"main": 1}')

    assert json.loads((tmp_path / "ports.json").read_text()) == {"main": 1, "admin": 2}
    assert load_ports(tmp_path / "ports.json", TwoPorts) == ports
    assert load_ports(tmp_path / "ports.json", ClickHousePorts) is None  # another engine's record
    assert load_ports(tmp_path / "bad.json", TwoPorts) is None
    assert load_ports(tmp_path / "missing.json", TwoPorts) is None


def test_a_clickhouse_record_written_before_ports_were_per_engine_reads_the_same(tmp_path: Path) -> None:
    (tmp_path / "ports.json").write_text('{\n  "http": 1,\n  "native": 2,\n  "https": 3,\n  "native_secure": 4\n}\n')

    ports = load_ports(tmp_path / "ports.json", ClickHousePorts)

    assert ports == ClickHousePorts(http=1, native=2, https=3, native_secure=4)
    save_ports(tmp_path / "again.json", ports)
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "ports.json").read_bytes()
