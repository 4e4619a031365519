"""Structured log lines: one per source fetch and one per message sent.

Each event is a logger call on ``awareness.events`` whose message is
``event key=value ...``; the chosen format (``log_format``: keyvalue or json)
decides how the whole line is written.  Subscribers appear by id, never by
address, so logs can be shipped anywhere without leaking who reads what.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

from .errors import ConfigError

events = logging.getLogger("awareness.events")
LOG_FORMATS = ("keyvalue", "json")


def check_log_format(log_format: str) -> None:
    """The settings' ``log_format`` (a value, not the Settings: logs sit below config)."""
    if log_format not in LOG_FORMATS:
        raise ConfigError("log_format", f"'{log_format}' is not one of: {', '.join(LOG_FORMATS)}")


def _value(v: Any) -> str:
    text = str(v)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


_ADDRESS = re.compile(r"[^\s<>()\[\]:;,\"']+@[^\s<>()\[\]:;,\"']+\.[A-Za-z]{2,}")


def redact(text: str) -> str:
    """Error texts (a mail server's refusal, say) can quote an address: log it as <address>."""
    return _ADDRESS.sub("<address>", text)


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event; subscribers appear by id, and any address in a text field is redacted."""
    shown = {k: redact(v) if isinstance(v, str) and k != "message_id" else v
             for k, v in fields.items() if v is not None}
    message = name + "".join(f" {k}={_value(v)}" for k, v in shown.items())
    events.log(level, message, extra={"event": name, "fields": shown})


def source_fetched(source_id: str, *, outcome: str, new: int = 0, error: str | None = None,
                   duration_s: float | None = None) -> None:
    """outcome: ok, unchanged or failed."""
    event("fetch", logging.WARNING if outcome == "failed" else logging.INFO, source=source_id, outcome=outcome,
          new=new, error=error, duration_s=None if duration_s is None else round(duration_s, 3))


def message_sent(*, profile_id: str, subscriber_id: int, items: int, message_id: str) -> None:
    event("sent", profile=profile_id, subscriber=subscriber_id, items=items, message_id=message_id)


def message_failed(*, profile_id: str, subscriber_id: int, error: str) -> None:
    event("send_failed", logging.ERROR, profile=profile_id, subscriber=subscriber_id, error=error)


class KeyValueFormatter(logging.Formatter):
    """``time=... level=... logger=... event key=value`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
        line = f"time={when} level={record.levelname.lower()} logger={record.name} "
        fields = getattr(record, "fields", None)
        message = record.getMessage()
        line += f"event={message}" if fields is not None else f"msg={_value(message)}"
        if record.exc_info:
            line += " exc=" + _value(self.formatException(record.exc_info))
        return line


class JSONFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if fields is not None:
            out["event"] = getattr(record, "event", "")
            out.update({k: v if isinstance(v, (int, float, bool)) else str(v) for k, v in fields.items()})
        else:
            out["msg"] = record.getMessage()
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Route every log line through the chosen structured format (used by `awareness serve`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
