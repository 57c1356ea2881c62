"""``cardiac-qa synth echo|mr``: synthetic studies with ground truth (truth.json)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["synth"]


@click.command()
@click.argument("kind", type=click.Choice(["echo", "mr"]))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--n", "n", type=click.IntRange(1, 10_000), default=4, show_default=True, help="Studies to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--small", is_flag=True, help="Short loops / small volumes (tests, demo).")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a contact-sheet PNG.")
def synth(kind: str, out_dir: Path, n: int, seed: int, small: bool, preview: Path | None) -> None:
    """Write N synthetic KIND studies to OUT with their ground truth."""
    if kind == "echo":
        from models.synthetic.echo import generate_studies
    else:
        from models.synthetic.mr import generate_studies
    truth = generate_studies(out_dir, n=n, seed=seed, small=small, preview=preview)
    click.echo(f"wrote {len(truth)} {kind} studies to {out_dir} (truth: {out_dir / kind / 'truth.json'})")
