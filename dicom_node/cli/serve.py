"""``cardiac-qa serve``: run the node until SIGTERM/SIGINT, then shut down cleanly."""

from __future__ import annotations

import click

from .common import config_option, get_settings
from .main import CliError

__all__ = ["serve"]


@click.command()
@config_option
def serve(config_path: str | None) -> None:
    """Receive studies over DICOM, analyse them and send the results (runs until stopped)."""
    settings = get_settings(config_path)
    from dicom_node.node import Node, NodeError, configure_logging

    configure_logging(settings)
    node = Node(settings)
    try:
        node.run_forever()
    except NodeError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        # Typically the port is in use or data_dir is not writable.
        raise CliError(f"cannot run the node: {exc.strerror or exc}") from None
