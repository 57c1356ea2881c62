"""``cardiac-qa train echo|mr``: train a model pack on the synthetic generator (or site data)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["train"]


@click.command()
@click.argument("kind", type=click.Choice(["echo", "mr"]))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder that receives the pack(s).")
@click.option("--preset", type=click.Choice(["tiny", "provisional", "full"]), default="full",
              show_default=True, help="tiny: a few steps (tests); full: the shipped packs' recipe.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Site's labelled data instead of the synthetic generator (see README).")
def train(kind: str, out_dir: Path, preset: str, seed: int, data_dir: Path | None) -> None:
    """Train the KIND packs and write them (manifest.json + model.onnx) under OUT."""
    try:
        if kind == "echo":
            from models.train.echo import train_packs
        else:
            from models.train.mr import train_packs
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("torch"):
            raise click.ClickException("training needs the train extra: pip install -e '.[train]'") from None
        raise
    packs = train_packs(out_dir, preset=preset, seed=seed, data_dir=data_dir)
    for p in packs:
        click.echo(f"wrote pack {p}")
