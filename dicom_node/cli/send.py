"""``cardiac-qa send HOST PORT PATH...``: C-STORE files as they are (no transcoding)."""

from __future__ import annotations

from pathlib import Path

import click

from .main import CliError

__all__ = ["send"]


@click.command()
@click.argument("host")
@click.argument("port", type=click.IntRange(1, 65535))
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--aet", default="CARDIAC_QA_SCU", show_default=True, help="Our (calling) AE title.")
@click.option("--called-aet", default="CARDIAC_QA", show_default=True, help="The peer's (called) AE title.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="ACSE/DIMSE/network timeout in seconds.",
)
def send(host: str, port: int, paths: tuple[Path, ...], aet: str, called_aet: str, timeout: float) -> None:
    """Send DICOM files (directories recursively) to HOST PORT; one status line per file.

    Each file is proposed with its own transfer syntax. Exit code 1 when any file failed.
    """
    from dicom_node.scu import SendError, expand_paths, send_files

    files = expand_paths(paths)
    if not files:
        raise CliError("no files to send")
    try:
        results = send_files(
            host,
            port,
            files,
            calling_aet=aet,
            called_aet=called_aet,
            acse_timeout=timeout,
            dimse_timeout=timeout,
            network_timeout=timeout,
        )
    except SendError as exc:
        raise CliError(str(exc)) from None
    failed = 0
    for r in results:
        if r.ok:
            click.echo(f"ok      0x{r.status:04X} {r.path}")
        else:
            failed += 1
            status = f"0x{r.status:04X}" if r.status is not None else "------"
            click.echo(f"FAILED  {status} {r.path}" + (f" ({r.error})" if r.error else ""))
    click.echo(f"{len(results) - failed} of {len(results)} file(s) stored")
    if failed:
        raise CliError(f"{failed} file(s) not stored")
