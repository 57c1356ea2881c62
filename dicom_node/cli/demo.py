"""``cardiac-qa demo``: run the whole product end to end on loopback (issue 7)."""

from __future__ import annotations

from pathlib import Path

import click

from .main import CliError

__all__ = ["demo"]


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for the node's data, the received objects, overlays and summary.",
)
@click.option(
    "--small/--full",
    default=True,
    show_default=True,
    help="Small set (3 echo + 3 MR studies, short loops, 64³ MR) or the larger one (7 + 5, full size).",
)
@click.option(
    "--echo", "n_echo", type=click.IntRange(0, 50), default=None, help="Echo studies (overrides the set)."
)
@click.option(
    "--mr", "n_mr", type=click.IntRange(0, 50), default=None, help="MR studies (overrides the set)."
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the synthetic generators.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(5, 3600),
    default=280.0,
    show_default=True,
    help="Seconds to wait for every SR/SC to reach the embedded PACS.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Analysis worker processes (capped at the CPU count).",
)
@click.option(
    "--packs",
    "packs",
    type=click.Path(path_type=Path),
    default=None,
    help="Also install the model packs under this folder as site packs (e.g. your own training).",
)
@click.option("--dashboard", is_flag=True, help="Also serve the dashboard and keep it open until Ctrl-C.")
@click.option("--no-progress", is_flag=True, help="No progress bars (logs, CI).")
def demo(
    out_dir: Path,
    small: bool,
    n_echo: int | None,
    n_mr: int | None,
    seed: int,
    timeout_s: float,
    workers: int,
    packs: Path | None,
    dashboard: bool,
    no_progress: bool,
) -> None:
    """Start the node and an embedded PACS on loopback, send synthetic studies, print the grades.

    Writes OUT/summary.html, OUT/overlays/*.png and keeps the node's data in OUT/var.
    Exits 1 when not every SR/SC arrived within --timeout.
    """
    from dicom_node.demo import DemoError, DemoOptions, run_demo

    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"--out {out_dir} exists and is not a folder")
    if packs is not None and not packs.is_dir():
        raise CliError(f"--packs {packs} is not a folder")
    if (n_echo, n_mr) == (0, 0):
        raise CliError("nothing to send: --echo and --mr are both 0")
    opts = DemoOptions(
        out=out_dir,
        small=small,
        n_echo=n_echo,
        n_mr=n_mr,
        seed=seed,
        timeout_s=timeout_s,
        progress=not no_progress,
        workers=workers,
        dashboard=dashboard,
        packs=packs,
    )
    try:
        report = run_demo(opts, echo=click.echo)
    except DemoError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"demo finished in {report.wall_s:.0f} s")
    if not report.complete:
        raise CliError("demo incomplete: " + "; ".join(report.problems))
