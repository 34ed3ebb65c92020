"""Queueing between MULTI and EXEC, as the executor does it, without replicas: what is queued,
what aborts EXEC, and what runs at once. EXEC's run of the queue is compared with the reference
in tests/integration/test_compat_transactions.py."""

from __future__ import annotations

from leaderless.proxy.commands.strings import OK
from leaderless.proxy.commands.transactions import (
    DISCARD_WITHOUT_MULTI,
    EXEC_WITHOUT_MULTI,
    EXECABORT,
    NOT_IN_TRANSACTION,
    QUEUED,
    versions,
)
from leaderless.proxy.execute import Pending, execute
from leaderless.proxy.resp import ErrorReply, SimpleString
from leaderless.proxy.state import Context
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record

from tests.proxy.commands.test_client import proxy_state


def run(context: Context, line: str) -> object:
    return execute(context, [word.encode() for word in line.split(" ")])


def test_requests_between_multi_and_exec_are_queued_not_run() -> None:
    context = Context(proxy_state())
    assert run(context, "MULTI") == OK
    assert run(context, "SET k v") == QUEUED
    assert run(context, "SELECT 3") == QUEUED
    assert context.db == 0
    assert context.transaction == [[b"SET", b"k", b"v"], [b"SELECT", b"3"]]
    pending = run(context, "EXEC")
    assert isinstance(pending, Pending) and pending.exclusive and pending.barrier
    assert context.transaction is None
    assert context.db == 3  # what is read after EXEC runs in the database it leaves selected


def test_a_request_that_cannot_be_queued_makes_exec_abort() -> None:
    context = Context(proxy_state())
    run(context, "MULTI")
    assert run(context, "SET k") == ErrorReply("ERR wrong number of arguments for 'set' command")
    assert run(context, "MULTI") == NOT_IN_TRANSACTION
    assert run(context, "GET k") == QUEUED
    assert run(context, "EXEC") == EXECABORT
    assert run(context, "EXEC") == EXEC_WITHOUT_MULTI


def test_exec_refused_drops_the_transaction() -> None:
    context = Context(proxy_state())
    run(context, "MULTI")
    run(context, "SET k v")
    assert run(context, "EXEC now") == ErrorReply(
        "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"
    )
    assert context.transaction is None


def test_discard_and_reset_end_a_transaction_at_once() -> None:
    context = Context(proxy_state())
    assert run(context, "DISCARD") == DISCARD_WITHOUT_MULTI
    run(context, "MULTI")
    assert run(context, "DISCARD") == OK
    assert run(context, "EXEC") == EXEC_WITHOUT_MULTI
    run(context, "MULTI")
    run(context, "NOSUCH")
    assert run(context, "RESET") == SimpleString("RESET")
    assert (context.transaction, context.transaction_failed) == (None, False)


def test_a_watched_version_is_the_timestamp_and_whether_a_client_sees_it() -> None:
    stamp = Timestamp(1_000, 0, 1)
    live = Record(stamp, False, 0, b"v")
    expiring = Record(stamp, False, 2_000, b"v")
    assert versions([live, None], 1_500) == [(stamp, True), None]
    assert versions([expiring], 1_500) != versions([expiring], 2_500)
    assert versions([Record.deletion(stamp)], 1_500) == [(stamp, False)]
