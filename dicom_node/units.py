"""Loading the unit of an analysis (one instance, or one series) from the file store.

Analyzers never read files (ARCHITECTURE.md §2): the job runner calls :func:`load_unit`, which
reads the stored Part-10 files with pydicom (pixel data stays encoded until the analyzer decodes
it) and hands an :class:`analyzers.base.AnalysisUnit` over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pydicom
from pydicom.errors import InvalidDicomError
from sqlalchemy import select

from analyzers.base import AnalysisUnit
from storage.schema import Analysis, Instance

from .assembly import unit_kind_for

if TYPE_CHECKING:
    from storage.db import Database
    from storage.filestore import FileStore

__all__ = ["UnitError", "UnitFiles", "load_unit", "unit_files"]


class UnitError(Exception):
    """The stored files of a unit cannot be loaded; ``code`` says why."""

    code = "unit_unavailable"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


@dataclass(frozen=True)
class UnitFiles:
    """What the database says a unit consists of (read in one short session)."""

    analysis_uid: str
    kind: str
    modality: str
    study_instance_uid: str
    series_instance_uid: str
    files: tuple[str, ...]  # paths relative to data_dir


def unit_files(db: Database, analysis_id: int) -> UnitFiles:
    """The stored files of analysis ``analysis_id``'s unit.

    Raises
    ------
    UnitError
        Unknown analysis, no current instances, or purged pixel data.
    """
    with db.session() as session:
        analysis = session.get(Analysis, analysis_id)
        if analysis is None:
            raise UnitError(f"analysis {analysis_id} does not exist", "unit_missing")
        series = analysis.series
        if analysis.unit_kind == "instance":
            inst = session.get(Instance, analysis.instance_id) if analysis.instance_id else None
            instances = [inst] if inst is not None else []
        else:
            rows = session.scalars(
                select(Instance)
                .where(Instance.series_id == series.id, Instance.is_current.is_(True))
                .order_by(Instance.id)
            )
            instances = [
                i for i in rows if unit_kind_for(series.modality, i.sop_class_uid, i.number_of_frames) == "series"
            ]
        if not instances:
            raise UnitError(f"analysis {analysis_id}: the unit has no stored instances", "unit_missing")
        if any(i.purged_at is not None for i in instances):
            raise UnitError(
                f"analysis {analysis_id}: pixel data was purged (storage.retention_days)", "unit_purged"
            )
        return UnitFiles(
            analysis_uid=analysis.analysis_uid,
            kind=analysis.unit_kind,
            modality=series.modality or "",
            study_instance_uid=series.study.study_instance_uid,
            series_instance_uid=series.series_instance_uid,
            files=tuple(i.file_path for i in instances),
        )


def load_unit(db: Database, store: FileStore, analysis_id: int) -> AnalysisUnit:
    """Read the datasets of analysis ``analysis_id``'s unit.

    Parameters
    ----------
    db
        ``storage.db.Database``.
    store
        ``storage.filestore.FileStore`` holding the instance files.
    analysis_id
        Primary key of the analysis row.

    Raises
    ------
    UnitError
        ``unit_missing`` (no rows or files), ``unit_purged``, ``unit_unreadable`` (not DICOM).
    """
    spec = unit_files(db, analysis_id)
    datasets = []
    for rel in spec.files:
        path = store.path(rel)
        try:
            datasets.append(pydicom.dcmread(path))
        except FileNotFoundError:
            raise UnitError(f"analysis {analysis_id}: a stored instance file is missing", "unit_missing") from None
        except (InvalidDicomError, EOFError, ValueError) as exc:
            raise UnitError(
                f"analysis {analysis_id}: a stored instance cannot be parsed ({type(exc).__name__})",
                "unit_unreadable",
            ) from None
    modality = spec.modality or str(datasets[0].get("Modality", ""))
    return AnalysisUnit(
        kind=spec.kind,
        modality=modality,
        study_instance_uid=spec.study_instance_uid,
        series_instance_uid=spec.series_instance_uid,
        datasets=tuple(datasets),
        analysis_uid=spec.analysis_uid,
    )
