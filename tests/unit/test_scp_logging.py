"""dicom_node.logging_setup: one handler, text or JSON lines, library globals set."""

from __future__ import annotations

import json
import logging

import pytest
from pynetdicom import _config

from config.settings import Settings
from dicom_node.logging_setup import configure_logging


@pytest.fixture
def restore_root():  # noqa: ANN201
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    logging.captureWarnings(False)


def test_json_lines_and_quiet_libraries(restore_root, capsys) -> None:  # noqa: ANN001
    configure_logging(Settings(logging={"level": "DEBUG", "json": True}))
    configure_logging(Settings(logging={"level": "DEBUG", "json": True}))  # idempotent: one handler
    logging.getLogger("dicom_node.test").info("hello %s", "world")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [(e["level"], e["logger"], e["message"]) for e in lines] == [
        ("INFO", "dicom_node.test", "hello world")
    ]
    assert logging.getLogger("pynetdicom").level == logging.WARNING
    assert _config.LOG_HANDLER_LEVEL == "none" and _config.LOG_REQUEST_IDENTIFIERS is False


def test_text_format(restore_root, capsys) -> None:  # noqa: ANN001
    configure_logging(Settings(logging={"level": "WARNING"}))
    logging.getLogger("dicom_node.test").info("hidden")
    logging.getLogger("dicom_node.test").warning("shown")
    err = capsys.readouterr().err
    assert (
        "shown" in err
        and "hidden" not in err
        and "WARNING dicom_node.test" in err.replace("MainProcess ", "")
    )
