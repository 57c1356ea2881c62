"""The ``cardiac-qa`` command line."""

from .main import CliError, cli, main

__all__ = ["CliError", "cli", "main"]
