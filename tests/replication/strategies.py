"""Hypothesis strategies shared by the replication tests."""

from __future__ import annotations

from hypothesis import strategies as st
from leaderless.replication.hlc import MAX_LOGICAL, MAX_NODE, MAX_PHYSICAL_MS, Timestamp
from leaderless.replication.record import Record

timestamps = st.builds(
    Timestamp,
    st.integers(0, MAX_PHYSICAL_MS),
    st.integers(0, MAX_LOGICAL),
    st.integers(0, MAX_NODE),
)

records = st.one_of(
    st.builds(
        Record,
        ts=timestamps,
        tombstone=st.just(False),
        expires_at_ms=st.integers(0, MAX_PHYSICAL_MS),
        value=st.binary(max_size=300),
        counter=st.just(False),
    ),
    st.builds(Record.deletion, timestamps),
)
