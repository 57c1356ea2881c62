"""The one-command demo: embedded receiving PACS, synthetic inputs and the orchestration."""

from .pacs import EmbeddedPacs, ReceivedObject
from .run import DemoError, DemoOptions, DemoReport, demo_settings, run_demo

__all__ = [
    "DemoError",
    "DemoOptions",
    "DemoReport",
    "EmbeddedPacs",
    "ReceivedObject",
    "demo_settings",
    "run_demo",
]
