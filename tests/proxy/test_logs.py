"""The JSON log format, record by record, and the handler `configure_logging` installs."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from leaderless.config.settings import LogSettings
from leaderless.proxy.logs import JsonFormatter, configure_logging


def _record(
    message: str, *args: object, extra: dict[str, object] | None = None
) -> logging.LogRecord:
    record = logging.LogRecord(
        "leaderless.replication.backend", logging.WARNING, __file__, 1, message, args, None
    )
    record.created = 1_780_000_000.123456  # 2026-05-28T20:26:40.123Z
    for name, value in (extra or {}).items():
        setattr(record, name, value)
    return record


def test_a_record_is_one_json_object_with_time_level_logger_and_message() -> None:
    line = JsonFormatter().format(_record("replica %s is down: %s", "r1", "refused"))
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-05-28T20:26:40.123Z",
        "level": "warning",
        "logger": "leaderless.replication.backend",
        "message": "replica r1 is down: refused",
    }


def test_extra_fields_become_fields_of_the_object() -> None:
    extra = {"event": "replica_down", "replica": "127.0.0.1:6380", "bytes_read": [1, 2]}
    parsed = json.loads(JsonFormatter().format(_record("down", extra=extra)))
    assert parsed["event"] == "replica_down"
    assert parsed["replica"] == "127.0.0.1:6380"
    assert parsed["bytes_read"] == [1, 2]


def test_a_field_json_cannot_encode_is_written_as_its_text() -> None:
    parsed = json.loads(JsonFormatter().format(_record("x", extra={"where": {1, 2} - {2}})))
    assert parsed["where"] == "{1}"


def test_the_source_tells_workers_apart() -> None:
    parsed = json.loads(JsonFormatter("worker 2").format(_record("x")))
    assert parsed["source"] == "worker 2"


def test_a_traceback_is_one_field_and_the_line_stays_one_line() -> None:
    record = _record("command failed")
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    exception = json.loads(line)["exception"]
    assert exception.startswith("Traceback") and "ValueError: boom" in exception


def test_non_ascii_messages_stay_readable() -> None:
    assert json.loads(JsonFormatter().format(_record("clé %s", "é")))["message"] == "clé é"


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_sets_the_level_and_the_format() -> None:
    configure_logging(LogSettings(level="warning", format="json"), "worker 1")
    root = logging.getLogger()
    assert root.level == logging.WARNING
    (handler,) = root.handlers
    assert isinstance(handler.formatter, JsonFormatter)
    configure_logging(LogSettings(level="debug", format="text"))
    (handler,) = root.handlers
    assert root.level == logging.DEBUG
    assert not isinstance(handler.formatter, JsonFormatter)
