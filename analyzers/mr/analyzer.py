"""``mr-wholeheart``: whole-heart MR image quality with IQ-DCNN (Piccini et al. 2020).

Series → checks and volume (:mod:`.volume`) → 128×128 patches in three orientations around the
volume centre (:mod:`.sampling`) → grade per patch (ONNX pack ``mr-iqdcnn``) → volume grade =
mean patch grade, octant/orientation regions, rescan decision → :class:`QualityResult`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from analyzers.base import (
    MR_SCALE,
    AnalysisUnit,
    AnalyzerError,
    Decisions,
    GlobalGrade,
    ModelRef,
    QualityResult,
)

from .errors import NotAssessable
from .regions import grade_map, region_results
from .sampling import (
    HALF_EDGE_MM,
    ORIENTATIONS,
    PatientGrid,
    extract_patches,
    patch_centres,
    plane_axes,
    resample_isotropic,
    robust_range,
)
from .volume import SeriesVolume, assemble_volume

if TYPE_CHECKING:
    from config.settings import Settings
    from models.runtime import LoadedPack, ModelSet

__all__ = [
    "MODEL_NAME",
    "MrAnalysis",
    "MrWholeHeartAnalyzer",
    "PatchGrades",
    "content_check",
    "grade_volume",
    "training_patches",
]

MODEL_NAME = "mr-iqdcnn"
#: lag-1 neighbour correlation below which the content is taken for random noise
NOISE_CORRELATION = 0.3
#: body parts that a whole-heart series may carry in BodyPartExamined
CARDIAC_BODY_PARTS = {"", "HEART", "CHEST", "THORAX", "CARDIAC", "WHOLEHEART", "CORONARY", "AORTA", "MEDIASTINUM"}


@dataclass
class MrAnalysis:
    """The result plus what the overlays need (volume, grid, patches and their grades).

    ``grade_map()`` and ``resampled()`` build the dense arrays on demand; ``reformats()`` gives
    the three planes through the volume centre with their grade maps (docs/mr.md).
    """

    result: QualityResult
    volume: SeriesVolume | None = None
    grid: PatientGrid | None = None
    intensity_range: tuple[float, float] | None = None
    centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    orientations: list[str] = field(default_factory=list)
    patch_grades: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def drawing(self) -> dict[str, object]:
        """Keyword arguments for the report builders: the grade map as a function of LPS points."""
        return {"grade_map": self.grade_at} if self.volume is not None and self.grid is not None else {}

    def _need(self) -> tuple[SeriesVolume, PatientGrid, tuple[float, float]]:
        if self.volume is None or self.grid is None or self.intensity_range is None:
            raise ValueError("the series was not assessable: no volume or grade map")
        return self.volume, self.grid, self.intensity_range

    def resampled(self, step: float = 1.0) -> np.ndarray:
        """The normalised volume on the patient-axis grid, ``(z, y, x)``, ``step`` mm."""
        vol, grid, (lo, hi) = self._need()
        return resample_isotropic(vol, grid, lo, hi, step)

    def grade_map(self, step: float = 4.0) -> np.ndarray:
        """Dense grade map ``(z, y, x)`` on the same grid at ``step`` mm (NaN = no patch)."""
        _, grid, _ = self._need()
        shape = tuple(int(np.floor((s - 1) / step)) + 1 for s in grid.shape)
        return grade_map(shape, grid.origin, self.centres, self.orientations, self.patch_grades, step)  # type: ignore[arg-type]

    def grade_at(self, points: np.ndarray) -> np.ndarray:
        """Grade map at arbitrary patient LPS points ``(..., 3)`` mm (NaN where no patch covers)."""
        return _map_at(np.asarray(points, dtype=float), self.centres, self.orientations, self.patch_grades)

    def reformats(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Orientation → (image, grade map): 1 mm planes through the centre, display orientation."""
        vol, grid, (lo, hi) = self._need()
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        c = grid.snap(grid.centre)
        extent = {"axial": (grid.shape[1], grid.shape[2]), "coronal": (grid.shape[0], grid.shape[2]),
                  "sagittal": (grid.shape[0], grid.shape[1])}
        for o in ORIENTATIONS:
            rows, cols = extent[o]
            size = max(rows, cols)
            img = extract_patches(vol, c[None, :], [o], lo, hi, size=size)[0, 0]
            r, q = plane_axes(o)
            offs = np.arange(size) - size // 2
            pts = c + offs[:, None, None] * r + offs[None, :, None] * q
            gm = _map_at(pts, self.centres, self.orientations, self.patch_grades)
            out[o] = (img, gm)
        return out


def _map_at(pts: np.ndarray, centres: np.ndarray, orients: list[str], grades: np.ndarray,
            sigma_mm: float = 32.0) -> np.ndarray:
    """Grade map (same splatting rule as :func:`grade_map`) at arbitrary points ``(..., 3)``."""
    num = np.zeros(pts.shape[:-1])
    den = np.zeros(pts.shape[:-1])
    for c, g in zip(centres, grades, strict=True):
        d = pts - c
        inside = np.all(np.abs(d) <= 64.0, axis=-1)
        w = np.exp(-(d**2).sum(-1) / (2 * sigma_mm**2)) * inside
        num += w * g
        den += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan).astype(np.float32)


def content_check(data: np.ndarray) -> None:
    """Random noise or an empty field of view is not gradable → :class:`NotAssessable`.

    Looks at the central block of the native stack ``(slices, rows, columns)``: anatomy makes
    neighbouring pixels strongly correlated (≥ 0.8 on the phantom even at grade 0), white noise not.
    """
    n, r, c = data.shape
    block = data[n // 4 : n - n // 4 or None, r // 4 : r - r // 4 or None, c // 4 : c - c // 4 or None]
    block = block.astype(np.float64) - block.mean()
    if float(block.std()) <= 1e-6 * max(float(np.abs(data).max()), 1e-12):
        raise NotAssessable("the field of view around the volume centre is empty (no signal to grade)")
    corr = []
    for ax in (1, 2):
        a = np.moveaxis(block, ax, 0)
        x, y = a[1:].ravel(), a[:-1].ravel()
        corr.append(float(np.dot(x, y) / max(np.sqrt(np.dot(x, x) * np.dot(y, y)), 1e-12)))
    r_mean = float(np.mean(corr))
    if r_mean < NOISE_CORRELATION:
        raise NotAssessable(
            f"the images look like random noise (neighbouring-pixel correlation {r_mean:.2f}); no anatomy to grade"
        )


_NON_CARDIAC_WORDS = ("BRAIN", "HEAD", "KNEE", "SPINE", "PELVIS", "PROSTATE", "BREAST", "ABDOMEN", "LIVER", "ANKLE",
                      "SHOULDER", "HIP", "WRIST", "ELBOW")


def _body_part_check(unit: AnalysisUnit) -> None:
    parts = {str(getattr(ds, "BodyPartExamined", "") or "").strip().upper() for ds in unit.datasets}
    odd = sorted(p for p in parts - CARDIAC_BODY_PARTS)
    if odd:
        raise NotAssessable(f"not a cardiac series (BodyPartExamined {', '.join(odd)}); whole-heart grading "
                            "applies to cardiac MR only")
    if parts == {""}:  # no body part: fall back on the series description
        desc = str(getattr(unit.datasets[0], "SeriesDescription", "") or "").upper() if unit.datasets else ""
        words = [w for w in _NON_CARDIAC_WORDS if w in desc.replace("_", " ").split()]
        if words and "HEART" not in desc and "CARDIAC" not in desc:
            raise NotAssessable(f"not a cardiac series (series description names {words[0].lower()}); "
                                "whole-heart grading applies to cardiac MR only")


@dataclass
class PatchGrades:
    """Patch centres (LPS mm), orientations and grades of one volume, with the grid used."""

    grid: PatientGrid
    intensity_range: tuple[float, float]
    centres: np.ndarray
    orientations: list[str]
    grades: np.ndarray
    timings_ms: dict[str, float]

    @property
    def score(self) -> float:
        """Volume grade: the mean patch grade (Piccini et al.), clipped to 0–4."""
        return float(np.clip(self.grades.mean(), 0.0, 4.0))


def grade_volume(vol: SeriesVolume, pack: LoadedPack, patches_per_orientation: int) -> PatchGrades:
    """Normalise, cut ``3 × patches_per_orientation`` patches around the centre and grade them."""
    t1 = time.perf_counter()
    lo, hi = robust_range(vol.data)
    grid = PatientGrid.covering(vol)
    offsets = patch_centres(patches_per_orientation)
    centres = np.concatenate([grid.snap(grid.centre + offsets[o]) for o in ORIENTATIONS])
    orients = [o for o in ORIENTATIONS for _ in range(patches_per_orientation)]
    patches = extract_patches(vol, centres, orients, lo, hi)
    t_patches = _ms(t1)
    t2 = time.perf_counter()
    raw = pack.run(patches, batch=16).reshape(-1)
    grades = np.clip(pack.calibrate(raw), 0.0, 4.0)
    return PatchGrades(grid, (lo, hi), centres, orients, grades, {"patches": t_patches, "models": _ms(t2)})


def training_patches(vol: SeriesVolume, rng: np.random.Generator, per_orientation: int) -> np.ndarray:
    """Patches ``(3·n, 128, 128)`` of a labelled series for training, cut as :func:`grade_volume` cuts.

    Same normalisation, grid and sampler as inference; the centres are uniform in the central
    cube instead of the fixed low-discrepancy set, so repeated draws give new patches.
    """
    lo, hi = robust_range(vol.data)
    grid = PatientGrid.covering(vol)
    h = HALF_EDGE_MM
    centres = np.concatenate(
        [grid.snap(grid.centre + rng.uniform(-h, h, size=(per_orientation, 3))) for _ in ORIENTATIONS]
    )
    orients = [o for o in ORIENTATIONS for _ in range(per_orientation)]
    return extract_patches(vol, centres, orients, lo, hi)[:, 0]


class MrWholeHeartAnalyzer:
    """The ``mr-wholeheart`` analyzer (one analysis per MR series or multi-frame object)."""

    name = "mr-wholeheart"
    version = "1.0.0"
    required_models: tuple[str, ...] = (MODEL_NAME,)

    def analyze(self, unit: AnalysisUnit, models: ModelSet, settings: Settings) -> QualityResult:
        """Grade the series; a series that fails a check gives ``assessable: false`` + reason."""
        return self.analyze_detailed(unit, models, settings).result

    def analyze_detailed(self, unit: AnalysisUnit, models: ModelSet, settings: Settings) -> MrAnalysis:
        """:meth:`analyze` plus the volume, patch centres and grades for the overlays."""
        missing = models.missing(self.required_models)
        if missing:
            raise AnalyzerError(f"mr-wholeheart needs model pack {MODEL_NAME}: {missing[MODEL_NAME]}")
        pack = models.get(MODEL_NAME)
        refs = (ModelRef(pack.manifest.name, pack.manifest.version, pack.manifest.sha256),)
        mr = settings.mr
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        try:
            _body_part_check(unit)
            vol = assemble_volume(unit.datasets, mr.min_slices, mr.min_extent_mm)
            content_check(vol.data)
            timings["decode"] = _ms(t0)
            pg = grade_volume(vol, pack, mr.patches_per_orientation)
        except NotAssessable as exc:
            timings["total"] = _ms(t0)
            return MrAnalysis(result=self._not_assessable(unit, refs, exc.reason, timings))
        timings.update(pg.timings_ms)
        grid, centres, orients, grades = pg.grid, pg.centres, pg.orientations, pg.grades
        lo, hi = pg.intensity_range
        t3 = time.perf_counter()
        score = float(np.clip(grades.mean(), 0.0, 4.0))
        regions = region_results(grades, centres - grid.centre, orients, round(score, 3))
        reasons: list[str] = []
        rescan = score < mr.rescan_below_grade
        if rescan:
            reasons.append(
                f"whole-heart grade {score:.2f} ({MR_SCALE.label_for(score)}) is below "
                f"mr.rescan_below_grade = {mr.rescan_below_grade:g}"
            )
            worst = sorted((r for r in regions[:8] if r.metrics.get("patches")), key=lambda r: r.score)[:2]
            if worst:
                reasons.append("lowest regions: " + ", ".join(f"{r.id} {r.score:.2f}" for r in worst))
        timings["regions"] = _ms(t3)
        timings["total"] = _ms(t0)
        result = QualityResult(
            **unit.identity(),
            analyzer=self.name,
            analyzer_version=self.version,
            modality="MR",
            assessable=True,
            scale=MR_SCALE,
            decisions=Decisions(rescan_recommended=rescan, reasons=tuple(reasons)),
            models=refs,
            global_grade=GlobalGrade(score=round(score, 3), label=MR_SCALE.label_for(score)),
            regions=regions,
            frames=None,
            timings_ms=timings,
        )
        return MrAnalysis(result=result, volume=vol, grid=grid, intensity_range=(lo, hi), centres=centres,
                          orientations=orients, patch_grades=grades)

    def _not_assessable(self, unit: AnalysisUnit, refs: tuple[ModelRef, ...], reason: str,
                        timings: dict[str, float]) -> QualityResult:
        return QualityResult(
            **unit.identity(),
            analyzer=self.name,
            analyzer_version=self.version,
            modality="MR",
            assessable=False,
            reason=reason,
            scale=MR_SCALE,
            decisions=Decisions(rescan_recommended=False, reasons=(reason,)),
            models=refs,
            timings_ms=timings,
        )


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000.0, 1)
