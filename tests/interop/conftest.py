"""Interop fixtures: the ``--screenshots DIR`` option of the browser test (``make screenshots``)."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshots",
        action="store",
        default=None,
        metavar="DIR",
        help="Browser tests also save PNG screenshots of the dashboard into DIR (make screenshots).",
    )


@pytest.fixture
def screenshot_dir(request: pytest.FixtureRequest) -> Path | None:
    """Where to save screenshots, or None (the option is absent when the whole suite runs)."""
    try:
        value = request.config.getoption("--screenshots")
    except ValueError:
        value = None
    if not value:
        return None
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path
