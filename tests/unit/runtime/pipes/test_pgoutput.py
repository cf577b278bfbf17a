"""The pgoutput decoder: messages a real PostgreSQL 17 wrote (captured from pg_logical_slot_peek_binary_changes on
a table `items (id int PRIMARY KEY, name text, price numeric(10,2), at timestamptz, ok boolean, tags int[], body
text)`; tests/integration/test_pipes_postgres_source.py decodes live ones), and hand-built ones for the cases a
test table does not easily give."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from clickplane.runtime.pipes.pgoutput import (
    UNCHANGED_TOAST,
    Begin,
    Commit,
    DecodeError,
    Delete,
    Insert,
    PgOutputDecoder,
    Relation,
    RelationColumn,
    Truncate,
    Update,
    lsn_text,
    parse_lsn,
)

ITEMS_OID = 16422
CAPTURED = {
    "begin": "4200000000014ee298000304b3cd9d861c000002e8",
    "relation": "52000040267075626c6963006974656d73006400070169640000000017ffffffff006e616d650000000019ffffffff0070"
                "7269636500000006a4000a000600617400000004a0ffffffff006f6b0000000010ffffffff007461677300000003efffff"
                "ffff00626f64790000000019ffffffff",
    "insert_nulls": "49000040264e00077400000001326e6e6e6e6e6e",
    "commit": "430000000000014ee29800000000014ee2c8000304b3cd9d861c",
    "update_toast": "55000040264e0007740000000131740000000162740000000531322e3334740000001a323032342d30312d30322030"
                    "313a30343a30352e3637382b3030740000000174740000000a7b312c322c4e554c4c7d75",
    "relation_full": "52000040267075626c6963006974656d73006600070169640000000017ffffffff016e616d650000000019ffffffff"
                     "01707269636500000006a4000a000601617400000004a0ffffffff016f6b0000000010ffffffff01746167730000"
                     "0003efffffffff01626f64790000000019ffffffff",
    "update_old": "55000040264f00077400000001326e6e6e6e6e6e4e00077400000001327400000001636e6e6e6e6e",
    "delete_old": "44000040264f00077400000001327400000001636e6e6e6e6e",
    "truncate": "54000000010000004026",
}
COLUMNS = ("id", "name", "price", "at", "ok", "tags", "body")


def captured(name: str) -> bytes:
    return bytes.fromhex(CAPTURED[name])


def test_a_real_servers_transaction_decodes_to_its_relation_rows_and_positions() -> None:
    decoder = PgOutputDecoder()
    commit_time = datetime(2026, 12, 3, 6, 40, 25, 441820, tzinfo=UTC)
    assert decoder.decode(captured("begin")) == Begin(final_lsn=0x14EE298, commit_time=commit_time, xid=744)

    relation = decoder.decode(captured("relation"))
    assert isinstance(relation, Relation)
    assert (relation.oid, relation.schema, relation.name, relation.replica_identity) == (ITEMS_OID, "public",
                                                                                          "items", "d")
    assert relation.columns == (
        RelationColumn("id", 23, -1, True), RelationColumn("name", 25, -1, False),
        RelationColumn("price", 1700, (10 << 16 | 2) + 4, False), RelationColumn("at", 1184, -1, False),
        RelationColumn("ok", 16, -1, False), RelationColumn("tags", 1007, -1, False),
        RelationColumn("body", 25, -1, False))

    assert decoder.decode(captured("insert_nulls")) == Insert(relation, ("2", None, None, None, None, None, None))
    assert decoder.decode(captured("update_toast")) == Update(
        relation, ("1", "b", "12.34", "2024-01-02 01:04:05.678+00", "t", "{1,2,NULL}", UNCHANGED_TOAST), old=None)
    commit = decoder.decode(captured("commit"))
    assert commit == Commit(commit_lsn=0x14EE298, end_lsn=0x14EE2C8, commit_time=commit_time)


def test_a_relation_message_replaces_the_one_cached_and_the_old_rows_of_full_identity_decode() -> None:
    decoder = PgOutputDecoder()
    decoder.decode(captured("relation"))
    full = decoder.decode(captured("relation_full"))
    assert isinstance(full, Relation)
    assert full.replica_identity == "f"
    assert all(column.is_key for column in full.columns)
    assert decoder.relation(ITEMS_OID) is full

    update = decoder.decode(captured("update_old"))
    assert update == Update(full, new=("2", "c", None, None, None, None, None),
                            old=("2", None, None, None, None, None, None), old_is_key_only=False)
    assert decoder.decode(captured("delete_old")) == Delete(full, ("2", "c", None, None, None, None, None),
                                                            old_is_key_only=False)
    assert decoder.decode(captured("truncate")) == Truncate((full,))


# Hand-built messages, laid out as the protocol's documentation gives them.

def _string(text: str) -> bytes:
    return text.encode() + b"\0"


def _tuple(*values: object) -> bytes:
    data = struct.pack(">h", len(values))
    for value in values:
        if value is None:
            data += b"n"
        elif value is UNCHANGED_TOAST:
            data += b"u"
        else:
            encoded = str(value).encode()
            data += b"t" + struct.pack(">i", len(encoded)) + encoded
    return data


def _relation(oid: int, name: str, columns: list[tuple[str, bool]], identity: bytes = b"d") -> bytes:
    data = b"R" + struct.pack(">I", oid) + _string("public") + _string(name) + identity + struct.pack(">h",
                                                                                                     len(columns))
    for column, key in columns:
        data += struct.pack(">b", 1 if key else 0) + _string(column) + struct.pack(">Ii", 25, -1)
    return data


NOTES = _relation(7, "notes", [("id", True), ("body", False)])


def _decoder(*relations: bytes) -> PgOutputDecoder:
    decoder = PgOutputDecoder()
    for relation in relations:
        decoder.decode(relation)
    return decoder


def test_key_only_old_rows_unicode_and_empty_values() -> None:
    decoder = _decoder(NOTES)
    notes = decoder.relation(7)
    assert decoder.decode(b"D" + struct.pack(">I", 7) + b"K" + _tuple("5", None)) == Delete(notes, ("5", None))
    update = decoder.decode(b"U" + struct.pack(">I", 7) + b"K" + _tuple("5", None) + b"N" + _tuple("6", ""))
    assert update == Update(notes, new=("6", ""), old=("5", None), old_is_key_only=True)
    assert decoder.decode(b"I" + struct.pack(">I", 7) + b"N" + _tuple("1", "ünïcødé ✓")) == Insert(
        notes, ("1", "ünïcødé ✓"))


def test_truncate_options_and_several_relations() -> None:
    decoder = _decoder(NOTES, _relation(8, "tags", [("id", True)]))
    message = decoder.decode(b"T" + struct.pack(">ibII", 2, 3, 8, 7))
    assert message == Truncate((decoder.relation(8), decoder.relation(7)), cascade=True, restart_identity=True)


def test_type_origin_and_logical_messages_are_ignored() -> None:
    decoder = PgOutputDecoder()
    assert decoder.decode(b"Y" + struct.pack(">I", 16500) + _string("public") + _string("mood")) is None
    assert decoder.decode(b"O" + struct.pack(">Q", 99) + _string("upstream")) is None
    assert decoder.decode(b"M" + struct.pack(">bQ", 1, 99) + _string("prefix") + struct.pack(">i", 2) + b"hi") is None


def test_lsns_and_commit_times_use_all_their_bits() -> None:
    begin = PgOutputDecoder().decode(b"B" + struct.pack(">QqI", 0xFFFFFFFF_00000001, -1, 0xFFFFFFFF))
    assert isinstance(begin, Begin)
    assert (begin.final_lsn, begin.xid) == (0xFFFFFFFF_00000001, 0xFFFFFFFF)
    assert begin.commit_time == datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "an empty pgoutput message"),
    (b"S" + struct.pack(">I", 1), "unknown kind 'S'"),  # a stream start: protocol version 2's
    (b"I" + struct.pack(">I", 9) + b"N" + _tuple("1"), "OID 9, which no Relation message described"),
    (b"I" + struct.pack(">I", 7) + b"N" + _tuple("1"), "a row of 1 values for public.notes, whose Relation message "
                                                       "has 2 columns"),
    (b"I" + struct.pack(">I", 7) + b"X" + _tuple("1", "2"), "'X' where 'N' belongs"),
    (b"U" + struct.pack(">I", 7) + b"Q", "'Q' where 'K', 'O' or 'N' belongs"),
    (b"U" + struct.pack(">I", 7) + b"O" + _tuple("1", "2") + b"K", "'K' where 'N' belongs"),
    (b"D" + struct.pack(">I", 7) + b"N" + _tuple("1", "2"), "'N' where the old row's 'K' or 'O' belongs"),
    (b"I" + struct.pack(">I", 7) + b"N" + struct.pack(">h", 2) + b"b", "column value of unknown kind 'b'"),
    (b"I" + struct.pack(">I", 7) + b"N" + struct.pack(">h", 2) + b"t" + struct.pack(">i", 10) + b"abc",
     "a pgoutput value of 10 bytes runs past the message's end"),
    (b"C" + struct.pack(">bQ", 0, 1), "ended early"),
    (b"R" + struct.pack(">I", 7) + b"public", "no terminating zero byte"),
])
def test_malformed_messages_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        _decoder(NOTES).decode(data)


@pytest.mark.parametrize(("lsn", "text"), [
    (0, "0/0"), (0x16_B374D848, "16/B374D848"), (0xFFFFFFFF_FFFFFFFF, "FFFFFFFF/FFFFFFFF"), (0x1_00000000, "1/0")])
def test_lsns_are_written_and_read_as_postgresql_does(lsn: int, text: str) -> None:
    assert lsn_text(lsn) == text
    assert parse_lsn(text) == lsn
    assert parse_lsn(text.lower()) == lsn


@pytest.mark.parametrize("text", ["", "16", "/1", "1/", "x/1", "1/100000000", "100000000/0"])
def test_what_is_not_an_lsn_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a WAL position"):
        parse_lsn(text)
