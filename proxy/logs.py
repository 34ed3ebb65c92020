"""Log lines on stderr, as text for people or as one JSON object per line for log shippers.

The events that matter to an operator (a replica up, down, suspect or recovering, a quorum
lost or regained, the clock out of bounds or back, an anti-entropy round's summary) are logged
with their facts as `extra` fields, `event` naming the kind: `log.warning("replica %s is
down: %s", name, reason, extra={"event": "replica_down", "replica": name, ...})`. The text
format shows the message alone; the JSON format adds every such field to the object beside
`time`, `level`, `logger` and `message`, so a shipper can filter on `event` without parsing
the message. `JsonFormatter` turns a record into its line and does nothing else: it is tested
without a process or a stream.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from leaderless.config.settings import LogSettings

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
"""What every LogRecord carries; anything else on a record came in through `extra`."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601, milliseconds), level, logger, message,
    `source` (a worker's "worker 1") when set, the record's `extra` fields, and the traceback
    as `exception` when there is one."""

    def __init__(self, source: str = "") -> None:
        super().__init__()
        self._source = source

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, object] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._source:
            line["source"] = self._source
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and name not in line:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def text_formatter(source: str = "") -> logging.Formatter:
    tag = f"{source} " if source else ""
    return logging.Formatter(f"%(asctime)s %(levelname)s {tag}%(name)s: %(message)s")


def configure_logging(settings: LogSettings | None = None, source: str = "") -> None:
    """Log lines on stderr at `settings`' level and in its format (the defaults when None),
    replacing whatever was configured before; `source` (a worker's "worker 1") tells apart
    processes that share stderr."""
    settings = settings or LogSettings()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(source) if settings.format == "json" else text_formatter(source)
    )
    logging.basicConfig(level=settings.level.upper(), handlers=[handler], force=True)
