"""``cardiac-qa analyze PATH… --out DIR``: offline analysis, no network and no database.

Each US instance is one unit; MR instances are grouped by Series Instance UID. The configured
``[[routes]]`` choose the analyzer (ARCHITECTURE.md §7); the analyzer registry and the model
packs it needs are loaded once. Per analysis ``<out>/<analysis_uid>.json`` is written, plus the
SR/SC datasets the reports produce, and one summary line is printed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import click
import pydicom
from pydicom.errors import InvalidDicomError

from analyzers.base import AnalysisUnit, AnalyzerError, QualityResult, load_registry, run_analyzer
from config.settings import Settings
from models.runtime import SHIPPED_PACKS_DIR, ModelSet

from .common import config_option, get_settings
from .main import CliError

__all__ = ["analyze", "analysis_uid", "collect_units", "run_analyses"]

_NAMESPACE = uuid.UUID("0b6f3c51-7c2e-4f8e-9d35-5b2f0c6a9e14")


def _files(paths: Iterable[Path]) -> Iterator[tuple[Path, bool]]:
    """(file, named explicitly) for every file under ``paths``."""
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file():
                    yield f, False
        else:
            yield p, True


def _choose(settings: Settings, ds: pydicom.Dataset) -> str:
    try:
        from dicom_node.routing import choose_analyzer
    except ImportError:  # routing not in this build: route by modality
        return {"US": "echo-regional", "MR": "mr-wholeheart"}.get(str(getattr(ds, "Modality", "")), "none")
    return choose_analyzer(settings.routes, ds)


def collect_units(paths: Iterable[Path], settings: Settings) -> tuple[list[tuple[str, str, list]], list[str]]:
    """Read every DICOM file; return [(analyzer, label, datasets)] and skip messages."""
    skipped: list[str] = []
    us: list[tuple[str, str, list]] = []
    mr: dict[tuple[str, str], list] = defaultdict(list)
    for f, explicit in _files(paths):
        try:
            ds = pydicom.dcmread(f)
        except (InvalidDicomError, OSError, ValueError) as exc:
            if explicit:
                raise CliError(f"{f}: not a readable DICOM file ({exc})".splitlines()[0]) from None
            continue
        name = _choose(settings, ds)
        if name == "none":
            skipped.append(f"{f.name}: no route for modality {getattr(ds, 'Modality', '?')}; not analysed")
            continue
        if str(getattr(ds, "Modality", "")) == "MR":
            mr[(name, str(getattr(ds, "SeriesInstanceUID", "")))].append(ds)
        else:
            us.append((name, f.name, [ds]))
    units = us + [(name, f"series of {len(dss)} MR instance(s)", dss) for (name, _), dss in mr.items()]
    return units, skipped


def analysis_uid(datasets: list, analyzer: str, version: str, shas: Iterable[str]) -> str:
    """Deterministic analysis UID from (unit UIDs, analyzer, version, model hashes), §6."""
    key = "|".join([*sorted(str(d.SOPInstanceUID) for d in datasets), analyzer, version, *sorted(shas)])
    return f"2.25.{uuid.uuid5(_NAMESPACE, key).int}"


def _summary(label: str, r: QualityResult, path: Path) -> str:
    if not r.assessable:
        return f"{label}: {r.analyzer} not assessable: {r.reason} -> {path.name}"
    g = r.global_grade
    flags = "rescan recommended" if r.decisions.rescan_recommended else "no rescan"
    view = f" {r.view}" if r.view else ""
    assert g is not None
    return f"{label}:{view} {r.analyzer} global {g.score:.2f} ({g.label}), {flags} -> {path.name}"


def run_analyses(paths: list[Path], out_dir: Path, settings: Settings, echo=click.echo) -> int:  # noqa: ANN001
    """Analyse ``paths`` into ``out_dir``; returns the number of failed analyses."""
    from dicom_node.reports import build_outputs

    units, skipped = collect_units(paths, settings)
    for msg in skipped:
        echo(msg)
    if not units:
        raise CliError("no analysable DICOM instances found")
    registry, reg_errors = load_registry(settings.analyzers.plugins)
    needed = sorted({m for name, _, _ in units if name in registry for m in registry[name].required_models})
    dirs = (SHIPPED_PACKS_DIR, Path(settings.storage.data_dir) / "packs")
    models = ModelSet.load(dirs, names=needed, providers=str(settings.workers.providers.value),
                           threads=settings.workers.threads_per_process)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name, label, datasets in units:
        analyzer = registry.get(name)
        if analyzer is None:
            failed += 1
            why = "; ".join(reg_errors.values()) or "not registered"
            echo(f"{label}: error: analyzer {name!r} unavailable ({why})".splitlines()[0])
            continue
        shas = [models.packs[m].manifest.sha256 for m in analyzer.required_models if m in models.packs]
        first = datasets[0]
        unit = AnalysisUnit(
            kind="instance" if len(datasets) == 1 and getattr(first, "Modality", "") == "US" else "series",
            modality=str(getattr(first, "Modality", "")),
            study_instance_uid=str(getattr(first, "StudyInstanceUID", "")),
            series_instance_uid=str(getattr(first, "SeriesInstanceUID", "")),
            datasets=tuple(datasets),
            analysis_uid=analysis_uid(datasets, analyzer.name, analyzer.version, shas),
        )
        try:
            # The same path as the node's job runner: result plus the overlays' drawing inputs.
            result, drawing = run_analyzer(analyzer, unit, models, settings)
        except AnalyzerError as exc:
            failed += 1
            echo(f"{label}: error: {exc}".splitlines()[0])
            continue
        path = out_dir / f"{result.analysis_uid}.json"
        path.write_text(result.to_json() + "\n")
        outputs = build_outputs(result, list(datasets), settings, **drawing)
        for i, ds in enumerate(outputs or []):
            kind = "sr" if str(getattr(ds, "Modality", "")) == "SR" else "sc"
            ds.save_as(out_dir / f"{result.analysis_uid}-{kind}-{i + 1}.dcm", enforce_file_format=True)
        echo(_summary(label, result, path))
    return failed


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the result JSON (and SR/SC objects).")
@config_option
def analyze(paths: tuple[Path, ...], out_dir: Path, config_path: str | None) -> None:
    """Analyse DICOM files or folders offline and write one result JSON per analysis."""
    settings = get_settings(config_path)
    failed = run_analyses(list(paths), out_dir, settings)
    if failed:
        raise CliError(f"{failed} analysis(es) failed; see the lines above")
