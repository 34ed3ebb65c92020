from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from leaderless.replication.hlc import MAX_PHYSICAL_MS, Timestamp
from leaderless.replication.record import (
    FORMAT_VERSION,
    HEADER_LEN,
    Record,
    RecordFormatError,
    decode_record,
    encode_record,
    peek_range,
    peek_timestamp,
)

from tests.replication.strategies import records, timestamps

TS = Timestamp(0x0000_0102_0304, 5, 6)
ranges = st.integers(0, 0xFFFF)


def test_layout_matches_the_documented_bytes() -> None:
    record = Record(TS, tombstone=False, expires_at_ms=0x0A0B0C0D0E0F, value=b"hi")
    raw = encode_record(record, 0xBEEF)
    assert raw == (
        b"\x02"
        + b"\x00\x00\x01\x02\x03\x04"
        + b"\x00\x05"
        + b"\x00\x06"
        + b"\x00"
        + b"\x0a\x0b\x0c\x0d\x0e\x0f"
        + b"\xbe\xef"
        + b"hi"
    )
    assert len(raw) == HEADER_LEN + 2 == 22
    assert raw[0] == FORMAT_VERSION


def test_tombstone_sets_flag_bit_zero_and_has_no_value() -> None:
    raw = encode_record(Record.deletion(TS), 7)
    assert len(raw) == HEADER_LEN
    assert raw[11] == 0x01


def test_header_bytes_are_what_the_lua_scripts_unpack() -> None:
    """The scripts read bytes 2..11 (1-based) with struct '>I6I2I2', 13..18 with '>I6' and
    19..20 with '>I2'; Python's struct has no 6-byte integer, so split those in two."""
    record = Record(TS, tombstone=False, expires_at_ms=0x0A0B0C0D0E0F, value=b"v")
    raw = encode_record(record, 40_000)
    high, low, logical, node = struct.unpack(">HIHH", raw[1:11])
    assert ((high << 32) | low, logical, node) == (TS.physical_ms, TS.logical, TS.node)
    high, low = struct.unpack(">HI", raw[12:18])
    assert (high << 32) | low == record.expires_at_ms
    assert struct.unpack(">H", raw[18:20]) == (40_000,)


@given(records, ranges)
def test_round_trip(record: Record, range_id: int) -> None:
    raw = encode_record(record, range_id)
    assert decode_record(raw) == record
    assert peek_timestamp(raw) == record.ts
    assert peek_range(raw) == peek_range(raw[:HEADER_LEN]) == range_id


@given(timestamps, st.binary(max_size=100), ranges)
def test_any_value_bytes_round_trip(ts: Timestamp, value: bytes, range_id: int) -> None:
    record = Record(ts, tombstone=False, expires_at_ms=0, value=value)
    assert decode_record(encode_record(record, range_id)) == record


@given(st.binary(max_size=40) | st.binary(max_size=40).map(bytes((FORMAT_VERSION,)).__add__))
def test_arbitrary_bytes_decode_or_raise_format_error(raw: bytes) -> None:
    try:
        record = decode_record(raw)
    except RecordFormatError:
        return
    assert encode_record(record, peek_range(raw)) == raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "too short"),
        (b"\x02" + bytes(HEADER_LEN - 2), "too short"),
        (b"\x01" + bytes(17), "too short"),
        (b"\x01" + bytes(HEADER_LEN - 1), "unknown record format version 1"),
        (b"\x03" + bytes(HEADER_LEN - 1), "unknown record format version 3"),
        (b"\x00" + bytes(HEADER_LEN - 1), "unknown record format version 0"),
        (b"\x02" + bytes(10) + b"\x04" + bytes(8), "unknown record flags 0x04"),
        (b"\x02" + bytes(10) + b"\x03" + bytes(8), "unknown record flags 0x03"),
        (b"\x02" + bytes(10) + b"\x01" + bytes(8) + b"x", "tombstone record carries a value"),
    ],
)
def test_malformed_records_raise(raw: bytes, message: str) -> None:
    with pytest.raises(RecordFormatError, match=message):
        decode_record(raw)


def test_peek_checks_the_header_only() -> None:
    with pytest.raises(RecordFormatError):
        peek_timestamp(b"\x02" + TS.pack() + b"\xff" + bytes(6))  # no range bytes
    with pytest.raises(RecordFormatError):
        peek_timestamp(b"\x07" + bytes(HEADER_LEN))
    with pytest.raises(RecordFormatError):
        peek_range(b"\x01" + bytes(HEADER_LEN))
    header = b"\x02" + TS.pack() + b"\xff" + bytes(6) + b"\x01\x02"
    assert peek_timestamp(header) == TS
    assert peek_range(header) == 0x0102


def test_format_error_is_a_value_error() -> None:
    assert issubclass(RecordFormatError, ValueError)


def test_record_construction_guards_its_invariants() -> None:
    with pytest.raises(ValueError):
        Record(TS, tombstone=True, expires_at_ms=0, value=b"x")
    with pytest.raises(ValueError):
        Record(TS, tombstone=False, expires_at_ms=-1, value=b"")
    with pytest.raises(ValueError):
        Record(TS, tombstone=False, expires_at_ms=MAX_PHYSICAL_MS + 1, value=b"")


@pytest.mark.parametrize(
    ("tombstone", "expires_at_ms", "now_ms", "visible"),
    [
        (False, 0, 10**12, True),
        (False, 100, 99, True),
        (False, 100, 100, False),
        (False, 100, 101, False),
        (True, 0, 0, False),
    ],
)
def test_visibility(tombstone: bool, expires_at_ms: int, now_ms: int, visible: bool) -> None:
    record = Record(TS, tombstone, expires_at_ms, b"")
    assert record.is_visible(now_ms) is visible
