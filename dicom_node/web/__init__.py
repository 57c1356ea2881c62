"""Read-only QA dashboard served by the node when ``dashboard.enabled`` (Starlette + Jinja2)."""

from .app import ACCESS_LOGGER, create_app
from .server import DashboardError, DashboardServer

__all__ = ["ACCESS_LOGGER", "DashboardError", "DashboardServer", "create_app"]
