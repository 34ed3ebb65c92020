"""MULTI, EXEC and DISCARD: requests queued on one connection, then run in order as one unit.

Between MULTI and EXEC the executor queues each request instead of running it (execute.py),
answering QUEUED; a request it cannot queue (an unknown command, a wrong arity, a refusal, a
command not allowed in a transaction) answers its error and makes EXEC answer EXECABORT, so
nothing of the transaction applies, as in Redis. EXEC runs the queued requests one after the
other, each once the one before it has answered, and answers their replies in one array; an
error of one (a syntax error, a missed quorum) is its own entry and the others still apply, as
a runtime error in Redis does not roll a transaction back. The commands behind EXEC on the
connection wait for it. Across connections and proxies a transaction is not isolated: other
clients' commands can interleave with its commands, and each write converges by last write
wins on its own.
"""

from __future__ import annotations

from leaderless.proxy.commands.spec import CommandSpec, Doc, Session, Transaction
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.resp import ErrorReply, SimpleString
from leaderless.proxy.state import Context

QUEUED = SimpleString("QUEUED")
NOT_IN_TRANSACTION = ErrorReply("ERR Command not allowed inside a transaction")
EXEC_WITHOUT_MULTI = ErrorReply("ERR EXEC without MULTI")
DISCARD_WITHOUT_MULTI = ErrorReply("ERR DISCARD without MULTI")
EXECABORT = ErrorReply("EXECABORT Transaction discarded because of previous errors.")
EXEC_REFUSED = "Transaction discarded because of: "
"""EXEC's own refusal, after EXECABORT: then the refusal's text."""
RUN_IN_TRANSACTION = frozenset({"exec", "discard", "quit", "reset"})
"""The commands that run at once between MULTI and EXEC instead of being queued."""


def _multi(context: Context, args: list[bytes]) -> object:
    context.transaction, context.transaction_failed = [], False
    return OK


def _discard(context: Context, args: list[bytes]) -> object:
    if context.transaction is None:
        return DISCARD_WITHOUT_MULTI
    context.transaction, context.transaction_failed = None, False
    return OK


SPECS = (
    CommandSpec(
        "multi",
        1,
        "noscript loading stale fast no_multi allow_busy",
        "@fast @transaction",
        Doc(
            "Starts queueing this connection's commands for EXEC.", "1.2.0", "transactions", "O(1)"
        ),
        Session(_multi),
    ),
    CommandSpec(
        "exec",
        1,
        "noscript loading stale skip_commandlog",
        "@slow @transaction",
        Doc(
            "Runs the commands queued since MULTI, in order, and answers their replies.",
            "1.2.0",
            "transactions",
            "Depends on commands in the transaction",
        ),
        Transaction(),
    ),
    CommandSpec(
        "discard",
        1,
        "noscript loading stale fast allow_busy",
        "@fast @transaction",
        Doc(
            "Drops the commands queued since MULTI.",
            "2.0.0",
            "transactions",
            "O(N), when N is the number of queued commands",
        ),
        Session(_discard),
    ),
)
