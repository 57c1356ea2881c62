"""Fixtures of the reliability suite (see ``harness.py`` for the shared helpers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.harness import Pacs, free_port


@pytest.fixture
def pacs() -> Iterator[Pacs]:
    """A receiving PACS (pynetdicom C-STORE SCP) on a free loopback port, not yet started."""
    p = Pacs(free_port())
    try:
        yield p
    finally:
        p.stop()
