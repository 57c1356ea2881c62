"""Options shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from config.settings import ConfigError, Settings, load_settings

from .main import CliError

__all__ = ["config_option", "get_settings"]


def config_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="TOML config (default: $CARDIAC_QA_CONFIG, else the built-in defaults).",
    )(f)


def get_settings(config_path: str | None) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        raise CliError(str(exc).replace("\n  ", "; ")) from None
