"""One-line, machine-readable log records: time, level, logger, message, then the record's extra fields as
key=value pairs (action first)."""

from __future__ import annotations

import json
import logging

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES}
        ordered = sorted(fields.items(), key=lambda item: (item[0] != "action", item[0]))
        pairs = " ".join(f"{key}={_render(value)}" for key, value in ordered)
        line = f"{self.formatTime(record)} {record.levelname} {record.name} {json.dumps(record.getMessage())}"
        if pairs:
            line += " " + pairs
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _render(value: object) -> str:
    text = str(value)
    return text if text and all(c.isalnum() or c in "._-/:@" for c in text) else json.dumps(text)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
