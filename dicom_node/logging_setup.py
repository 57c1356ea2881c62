"""Logging configured in one place (``[logging]`` in config/node.toml).

Text or one JSON object per line on stderr. No patient data at any level: the node's own
messages never include patient attributes or ``str(dataset)``; pynetdicom's identifier logging is
switched off and its chatter limited to warnings; pydicom's reader runs without value
validation warnings (they quote element values).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from config.settings import Settings

__all__ = ["configure_logging", "JsonFormatter", "TEXT_FORMAT"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
_QUIET = {"pynetdicom": logging.WARNING, "apscheduler": logging.WARNING, "alembic": logging.WARNING}
_MARK = "_cardiac_qa_handler"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, process, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__  # the type only: messages may quote values
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Install the node's stderr handler on the root logger (idempotent; replaces ours only).

    Parameters
    ----------
    settings : config.settings.Settings
        Uses ``logging.level`` and ``logging.json``.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _MARK, True)
    if settings.logging.json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(settings.logging.level.value)
    for name, level in _QUIET.items():
        logging.getLogger(name).setLevel(max(level, root.level))
    logging.captureWarnings(True)  # library warnings go through the handler, not raw stderr

    from .scp.handler import configure_dicom_libraries

    configure_dicom_libraries()
