"""A decoder of the messages PostgreSQL's `pgoutput` logical decoding plugin writes, protocol version 1 (the `data`
column of pg_logical_slot_peek_binary_changes), as the PostgreSQL docs' "Logical Replication Message Formats" give
them. Values stay in PostgreSQL's text form; pgtypes.py turns them into ClickHouse's."""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from clickplane.runtime.base import RuntimeFailure

POSTGRES_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)


class Unchanged(enum.Enum):
    """A TOASTed value an update left as it was: pgoutput does not send it again, so it is not known here."""

    TOAST = "unchanged toast"


UNCHANGED_TOAST: Final = Unchanged.TOAST

Value = str | None | Literal[Unchanged.TOAST]
"""A column's value: its text form, None for NULL, or UNCHANGED_TOAST."""


class DecodeError(RuntimeFailure):
    """Bytes that are not a pgoutput version 1 message this decoder can read."""


def lsn_text(lsn: int) -> str:
    """PostgreSQL's way of writing a WAL position: two hex halves, "16/B374D848"."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, slash, low = text.partition("/")
    try:
        if not slash or not high or not low:
            raise ValueError(text)
        lsn = (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise ValueError(f"not a WAL position (X/Y in hex): {text!r}") from None
    if int(low, 16) > 0xFFFFFFFF or lsn >= 1 << 64:
        raise ValueError(f"not a WAL position (X/Y in hex): {text!r}")
    return lsn


def _timestamp(microseconds: int) -> datetime:
    return POSTGRES_EPOCH + timedelta(microseconds=microseconds)


@dataclass(frozen=True)
class RelationColumn:
    name: str
    type_oid: int
    type_modifier: int  # atttypmod: -1 when the type has none
    is_key: bool  # part of the replica identity


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    # As pg_class.relreplident: "d" (default: the primary key), "n" (nothing), "f" (full) or "i" (an index).
    replica_identity: str
    columns: tuple[RelationColumn, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int  # where the transaction's commit record is
    commit_time: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int  # just past the commit record: where a slot advances to once the transaction is written
    commit_time: datetime


@dataclass(frozen=True)
class Insert:
    relation: Relation
    new: tuple[Value, ...]


@dataclass(frozen=True)
class Update:
    relation: Relation
    new: tuple[Value, ...]
    # The row before, when PostgreSQL sends it: with REPLICA IDENTITY FULL every column ("O"), or, when the key
    # changed, the key columns only ("K", the others None). None when neither: the key is the new row's.
    old: tuple[Value, ...] | None
    old_is_key_only: bool = False


@dataclass(frozen=True)
class Delete:
    relation: Relation
    old: tuple[Value, ...]  # the key columns only (the others None) unless old_is_key_only is False
    old_is_key_only: bool = True


@dataclass(frozen=True)
class Truncate:
    relations: tuple[Relation, ...]
    cascade: bool = False
    restart_identity: bool = False


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate

_TRUNCATE_CASCADE = 1
_TRUNCATE_RESTART_IDENTITY = 2
_IGNORED_KINDS = frozenset(b"YOM")  # Type, Origin, logical decoding Message: nothing a pipe writes


class _Reader:
    """Big-endian fields read one after another from a message, as the protocol lays them out."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def _unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self._at + size > len(self._data):
            raise DecodeError(f"a pgoutput message ended early at byte {self._at} of {len(self._data)}")
        (value,) = struct.unpack_from(fmt, self._data, self._at)
        self._at += size
        return int(value)

    def int8(self) -> int:
        return self._unpack(">b")

    def byte(self) -> str:
        return chr(self._unpack(">B"))

    def int16(self) -> int:
        return self._unpack(">h")

    def int32(self) -> int:
        return self._unpack(">i")

    def uint32(self) -> int:
        return self._unpack(">I")

    def int64(self) -> int:
        return self._unpack(">q")

    def uint64(self) -> int:
        return self._unpack(">Q")

    def string(self) -> str:
        end = self._data.find(b"\0", self._at)
        if end < 0:
            raise DecodeError("a pgoutput message has a string with no terminating zero byte")
        text = self._data[self._at:end].decode("utf-8")
        self._at = end + 1
        return text

    def raw(self, length: int) -> bytes:
        if length < 0 or self._at + length > len(self._data):
            raise DecodeError(f"a pgoutput value of {length} bytes runs past the message's end")
        chunk = self._data[self._at:self._at + length]
        self._at += length
        return chunk

    def tuple_data(self) -> tuple[Value, ...]:
        values: list[Value] = []
        for _ in range(self.int16()):
            kind = self.byte()
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNCHANGED_TOAST)
            elif kind == "t":
                values.append(self.raw(self.int32()).decode("utf-8"))
            else:  # "b" (binary) comes only when asked for with the binary option, which pipes do not use
                raise DecodeError(f"a pgoutput column value of unknown kind {kind!r}")
        return tuple(values)


class PgOutputDecoder:
    """Decodes one message at a time, remembering the relations described so far: a change names its table only
    by OID, and pgoutput describes each table (again, when it changed) before the first change that needs it."""

    def __init__(self) -> None:
        self._relations: dict[int, Relation] = {}
        self._decoders: dict[str, Callable[[_Reader], Message]] = {
            "B": self._begin, "C": self._commit, "R": self._relation, "I": self._insert, "U": self._update,
            "D": self._delete, "T": self._truncate,
        }

    def relation(self, oid: int) -> Relation:
        try:
            return self._relations[oid]
        except KeyError:
            raise DecodeError(f"a change to the relation with OID {oid}, which no Relation message described "
                              "before it") from None

    def decode(self, data: bytes) -> Message | None:
        """The message in `data`, or None for those a pipe has no use for (Type, Origin, Message)."""
        if not data:
            raise DecodeError("an empty pgoutput message")
        if data[0] in _IGNORED_KINDS:
            return None
        decoder = self._decoders.get(chr(data[0]))
        if decoder is None:
            raise DecodeError(f"a pgoutput message of unknown kind {chr(data[0])!r} (protocol version 1 is asked "
                              "for, which has none)")
        reader = _Reader(data)
        reader.byte()
        return decoder(reader)

    @staticmethod
    def _begin(reader: _Reader) -> Begin:
        return Begin(final_lsn=reader.uint64(), commit_time=_timestamp(reader.int64()), xid=reader.uint32())

    @staticmethod
    def _commit(reader: _Reader) -> Commit:
        reader.int8()  # flags: none are defined
        return Commit(commit_lsn=reader.uint64(), end_lsn=reader.uint64(), commit_time=_timestamp(reader.int64()))

    def _relation(self, reader: _Reader) -> Relation:
        oid = reader.uint32()
        schema = reader.string()
        name = reader.string()
        identity = reader.byte()
        columns = []
        for _ in range(reader.int16()):
            flags = reader.int8()
            columns.append(RelationColumn(name=reader.string(), type_oid=reader.uint32(),
                                          type_modifier=reader.int32(), is_key=bool(flags & 1)))
        relation = Relation(oid=oid, schema=schema, name=name,
                            replica_identity=identity, columns=tuple(columns))
        self._relations[oid] = relation
        return relation

    def _insert(self, reader: _Reader) -> Insert:
        relation = self.relation(reader.uint32())
        self._expect(reader, "N")
        return Insert(relation=relation, new=self._row(relation, reader))

    def _update(self, reader: _Reader) -> Update:
        relation = self.relation(reader.uint32())
        old_kind = reader.byte()
        old = None
        if old_kind in ("K", "O"):
            old = self._row(relation, reader)
            self._expect(reader, "N")
        elif old_kind != "N":
            raise DecodeError(f"an Update message with {old_kind!r} where 'K', 'O' or 'N' belongs")
        return Update(relation=relation, new=self._row(relation, reader), old=old, old_is_key_only=old_kind == "K")

    def _delete(self, reader: _Reader) -> Delete:
        relation = self.relation(reader.uint32())
        kind = reader.byte()
        if kind not in ("K", "O"):
            raise DecodeError(f"a Delete message with {kind!r} where the old row's 'K' or 'O' belongs")
        return Delete(relation=relation, old=self._row(relation, reader), old_is_key_only=kind == "K")

    def _truncate(self, reader: _Reader) -> Truncate:
        count = reader.int32()
        options = reader.int8()
        relations = tuple(self.relation(reader.uint32()) for _ in range(count))
        return Truncate(relations=relations, cascade=bool(options & _TRUNCATE_CASCADE),
                        restart_identity=bool(options & _TRUNCATE_RESTART_IDENTITY))

    @staticmethod
    def _expect(reader: _Reader, kind: str) -> None:
        found = reader.byte()
        if found != kind:
            raise DecodeError(f"a pgoutput message with {found!r} where {kind!r} belongs")

    @staticmethod
    def _row(relation: Relation, reader: _Reader) -> tuple[Value, ...]:
        values = reader.tuple_data()
        if len(values) != len(relation.columns):
            raise DecodeError(f"a row of {len(values)} values for {relation.schema}.{relation.name}, whose Relation "
                              f"message has {len(relation.columns)} columns")
        return values
