"""``cardiac-qa train echo|mr``: train a model pack on the synthetic generator (or site data)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import config_option, get_settings

__all__ = ["train"]


@click.command()
@click.argument("kind", type=click.Choice(["echo", "mr"]))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder that receives the pack(s).")
@click.option("--preset", type=click.Choice(["tiny", "provisional", "full"]), default="full",
              show_default=True, help="tiny: a few steps (tests); full: the shipped packs' recipe.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="MR only: a site's labelled series (DICOM files + labels.csv, see README) "
                   "instead of the synthetic generator.")
@config_option
def train(kind: str, out_dir: Path, preset: str, seed: int, data_dir: Path | None, config_path: str | None) -> None:
    """Train the KIND packs and write them (manifest.json + model.onnx) under OUT."""
    if data_dir is not None and kind == "echo":
        raise click.UsageError(
            "--data is supported for mr only in this version: echo site training needs per-frame "
            "region labels and masks (see README, 'Training on your own data')"
        )
    try:
        if kind == "echo":
            from models.train.echo import train_packs

            packs = train_packs(out_dir, preset=preset, seed=seed)
        else:
            packs = _train_mr(out_dir, preset, seed, data_dir, config_path)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("torch"):
            raise click.ClickException("training needs the train extra: pip install -e '.[train]'") from None
        raise
    for p in packs:
        click.echo(f"wrote pack {p}")


def _train_mr(out_dir: Path, preset: str, seed: int, data_dir: Path | None, config_path: str | None) -> list[Path]:
    from models.train.mr import PRESETS, train_packs

    if data_dir is None:
        return train_packs(out_dir, preset=preset, seed=seed)
    from dicom_node.site_data import SiteDataError, mr_patchset

    mr = get_settings(config_path).mr  # the analyzer's series checks (min_slices, min_extent_mm)
    per_orientation = int(PRESETS[preset]["per_orientation"])  # patches per orientation and series
    try:
        site, skipped = mr_patchset(data_dir, per_orientation, seed, mr.min_slices, mr.min_extent_mm)
    except SiteDataError as exc:
        raise click.ClickException(str(exc)) from None
    for reason in skipped:
        click.echo(f"skipped {reason}", err=True)
    note = f"{site.n_volumes} labelled series from {data_dir.name}/"
    return train_packs(out_dir, preset=preset, seed=seed, site=site, site_note=note)
