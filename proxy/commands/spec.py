"""What a command is, declared once: the shape every family module fills in.

Redis declares each command in one JSON file and generates its command table, key extraction,
ACL checks and COMMAND DOCS from it. A `CommandSpec` is our version of that file: arity, flags,
ACL categories, key specs, tips and documentation as Redis 7.2 reports them, plus the two
things only we need: the parser that turns arguments into a typed command, and the command's
*meaning*, whose type says what kind of replicated access it is:

- `Local`: answered by the proxy alone (PING, TIME, COMMAND).
- `Session`: changes or reports this connection's state (AUTH, HELLO, CLIENT SETNAME).
- `Read`: a quorum read of the command's keys, then a pure reply from the records.
- `Write`: a blind write; the records written follow from the arguments alone.
- `ReadWrite`: a quorum read, then a pure function gives the reply and the records to write.
- `Keyspace`: work over every replica's whole keyspace (DBSIZE, FLUSHDB, SCAN).
- `Transaction`: EXEC, the requests queued since MULTI run in order.
- `Script`: EVAL and its kin, a script whose commands run through the executor.

Everything the executor does around a meaning (arity errors, the NOAUTH, reserved-key and
clock guards, key extraction, the ordering barrier, fast paths, COMMAND and COMMAND DOCS)
follows from these fields, so a new command cannot opt out of a guard by omission.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from leaderless.proxy.commands.args import parse_long_long
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.state import Context
from leaderless.replication.counters import CounterWrite
from leaderless.replication.record import Record


@dataclass(frozen=True, slots=True)
class Change:
    """A record a command writes: a value (with its absolute unix-ms expiry, 0 for none) or,
    with `value` None, a deletion. The executor stamps each with a fresh timestamp. A counter's
    change (`counter`) is written as the counter's state, and `value` is what it shows."""

    key: bytes
    value: bytes | None
    expires_at_ms: int = 0
    counter: CounterWrite | None = None


Outcome = tuple[object, Sequence[Change]]
"""A write's reply, and the records it writes (in order: a key written twice keeps the last)."""
Records = list[Record | None]
"""The records read for a command's keys, in key order; None where no replica had the key."""


@dataclass(frozen=True, slots=True)
class Local:
    answer: Callable[[Context, Any], object]


@dataclass(frozen=True, slots=True)
class Session:
    answer: Callable[[Context, Any], object]


@dataclass(frozen=True, slots=True)
class Read:
    reply: Callable[[Any, Records, int], object]
    """(command, records, now_ms) -> reply."""


@dataclass(frozen=True, slots=True)
class Write:
    writes: Callable[[Any, int], Outcome | ErrorReply]
    """(command, now_ms) -> (reply, changes), or the error to reply instead."""


def _always(command: object) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class ReadWrite:
    apply: Callable[[Any, Records, int], Outcome | ErrorReply]
    """(command, records, now_ms) -> (reply, changes), or the error to reply instead."""
    reads: Callable[[Any], bool] = _always
    """Whether this instance must read first; if not, `apply` gets no records and the command
    is a single round (SET without NX/XX/GET/KEEPTTL)."""
    latched: bool = True
    """Whether it holds its keys at this proxy from its read to its write (latches.py).
    Increments need not: each builds on this process's unacknowledged counters instead
    (counters.py), so a hot counter's increments do not wait for one another."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """EXEC: the requests queued since MULTI, which the executor runs in order, each once the
    one before it has answered."""


@dataclass(frozen=True, slots=True)
class Keyspace:
    run: Callable[[Context, Any], Awaitable[object]]
    """Called when the request is read, in request order; what it takes from the context (its
    database's coordinator) it takes then. The awaitable it returns runs when the command
    starts, which may be later, behind a read-then-write."""
    ordered: bool = False
    """Whether the commands behind it wait for its answer even though it does not write: work
    whose later steps read (SCAN reads at quorum the keys a replica listed), which a write
    behind it would otherwise overtake."""


class Calls(Protocol):
    """Requests run one after the other on behalf of one script, as one unit of work: `call`
    answers a request's reply (an `ErrorReply` for an error); `finish` sends the writes and
    answers, per call, the error of a write that missed its quorum, or None."""

    async def call(self, args: list[bytes]) -> object: ...

    async def finish(self) -> list[ErrorReply | None]: ...


class ScriptCommands(Protocol):
    """What a script needs of the executor: the spec a request names (or its error), and a
    fresh run of requests over a context."""

    def lookup(self, args: list[bytes]) -> CommandSpec | ErrorReply: ...

    def calls(self, context: Context) -> Calls: ...


@dataclass(frozen=True, slots=True)
class Script:
    """EVAL, FCALL and their kin: `run(context, command, commands)` runs the script, whose
    commands go through `commands`. The commands after it on the connection wait for it, as it
    may write."""

    run: Callable[[Context, Any, ScriptCommands], Awaitable[object]]


Meaning = Local | Session | Read | Write | ReadWrite | Keyspace | Transaction | Script


@dataclass(frozen=True, slots=True)
class KeySpec:
    """Where a command's keys are, as Redis 7.2's key specs say: from argument `begin`, keys
    up to `last` (an offset from `begin`; negative counts from the end) every `step`; a
    `limit` of L > 1 keeps the first 1/L of that range. A `keynum` spec (EVAL's) says instead
    where the number of keys is (argument `begin`), and that the keys follow it."""

    flags: str
    begin: int = 1
    last: int = 0
    step: int = 1
    limit: int = 0
    notes: str | None = None
    keynum: bool = False

    def keys(self, args: Sequence[bytes]) -> Sequence[bytes]:
        start = self.begin
        if start >= len(args):
            return ()
        if self.keynum:
            count = parse_long_long(args[start])
            if count is None or not 0 <= count <= len(args) - start - 1:
                return ()
            return args[start + 1 : start + 1 + count]
        last = start + self.last if self.last >= 0 else len(args) + self.last
        if self.limit > 1:
            last = start + (last - start) // self.limit
        return args[start : last + 1 : self.step]


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument as COMMAND DOCS describes it."""

    name: str
    type: str
    token: str | None = None
    since: str | None = None
    optional: bool = False
    multiple: bool = False
    multiple_token: bool = False
    key_spec_index: int | None = None
    display: str | None = None
    arguments: tuple[Arg, ...] = ()


@dataclass(frozen=True, slots=True)
class Doc:
    summary: str
    since: str
    group: str
    complexity: str
    arguments: tuple[Arg, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command (or one subcommand, named `container|sub`). A negative arity means "at
    least that many arguments", the name included. A container (CLIENT, COMMAND, CONFIG) has
    `subcommands` and no meaning of its own."""

    name: str
    arity: int
    flags: str
    acl: str
    doc: Doc
    meaning: Meaning | None
    parse: Callable[[list[bytes]], Any] | None = None
    """Arguments -> typed command, or the ErrorReply Redis gives; None: the command is the
    argument list itself."""
    key_specs: tuple[KeySpec, ...] = ()
    tips: tuple[str, ...] = ()
    subcommands: Mapping[str, CommandSpec] = field(default_factory=dict)
    help: tuple[str, ...] = ()
    """A container's HELP lines for this subcommand: its usage, then what it does."""

    def arity_ok(self, argc: int) -> bool:
        return argc == self.arity if self.arity > 0 else argc >= -self.arity

    def has(self, flag: str) -> bool:
        return flag in self.flags.split()

    def keys(self, args: Sequence[bytes]) -> Sequence[bytes]:
        """The command's keys in `args`, as its key specs find them."""
        if len(self.key_specs) == 1:
            return self.key_specs[0].keys(args)
        return [key for spec in self.key_specs for key in spec.keys(args)]

    @property
    def legacy_range(self) -> tuple[int, int, int]:
        """COMMAND's first key, last key and step, from the key specs as Redis derives them:
        one range over every spec that starts at an index; (0, 0, 0) for none, or for keys
        whose number is an argument."""
        ranges = self.key_specs
        if not ranges or any(s.keynum for s in ranges):
            return (0, 0, 0)
        first = min(s.begin for s in ranges)
        lasts = [s.begin + s.last if s.last >= 0 else s.last for s in ranges]
        last = -1 if any(value < 0 for value in lasts) else max(lasts)
        return (first, last, ranges[0].step)


def key(name: str = "key", *, index: int = 0, multiple: bool = False) -> Arg:
    """A key argument, pointing at key spec `index`."""
    return Arg(name, "key", key_spec_index=index, multiple=multiple)


def subcommands(*specs: CommandSpec) -> dict[str, CommandSpec]:
    """A container's subcommands by their own name (`client|id` under `id`)."""
    return {spec.name.split("|", 1)[1]: spec for spec in specs}
