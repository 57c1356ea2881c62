"""``echo-regional``: one analysis per US instance (ARCHITECTURE.md §3, §4)."""

from __future__ import annotations

import time
import warnings

import numpy as np

from analyzers.base import (
    ECHO_REGION_IDS,
    ECHO_SCALE,
    AnalysisOutcome,
    AnalysisUnit,
    AnalyzerError,
    Decisions,
    Frames,
    GlobalGrade,
    ModelRef,
    QualityResult,
    RegionResult,
)
from config.settings import Settings
from models.runtime import ModelSet, PackError

from .aggregate import summarise
from .decode import DecodeError, decode_frames
from .inference import run_quality, run_segmentation
from .metrics import METRIC_NAMES, loop_metrics
from .regions import RASTER, divide_loop, region_polygons
from .sector import find_sector, resize_area
from .view import segment_names, view_of

__all__ = ["EchoRegionalAnalyzer", "DOPPLER_FRACTION"]

#: Share of sector pixels that are saturated colour (in any frame) that marks colour Doppler.
DOPPLER_FRACTION = 0.01
SEG_PACK, E2E_PACK = "echo-seg", "echo-e2e"


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 1)


def _r(x: float, nd: int = 3) -> float | None:
    return None if not np.isfinite(x) else round(float(x), nd)


class EchoRegionalAnalyzer:
    """Regional echo quality: U-Net regions, end-to-end CNN scores, classic metrics, decisions."""

    name = "echo-regional"
    version = "1.0.0"
    required_models: tuple[str, ...] = (SEG_PACK, E2E_PACK)

    def analyze(self, unit: AnalysisUnit, models: ModelSet, settings: Settings) -> QualityResult:
        """Analyse the (first) instance of ``unit``; input problems give ``assessable: false``."""
        return self.analyze_with_geometry(unit, models, settings)[0]

    def analyze_detailed(self, unit: AnalysisUnit, models: ModelSet, settings: Settings) -> AnalysisOutcome:
        """:meth:`analyze` plus the region outlines as the reports' ``geometry`` drawing input."""
        result, geometry = self.analyze_with_geometry(unit, models, settings)
        return AnalysisOutcome(result, {"geometry": geometry} if geometry else {})

    def analyze_with_geometry(
        self, unit: AnalysisUnit, models: ModelSet, settings: Settings
    ) -> tuple[QualityResult, dict[str, np.ndarray]]:
        """:meth:`analyze` plus the region polygons on the first ED frame, ``(N, 2)`` (column, row)
        in source pixels per region id — the ``geometry`` the reports draw (empty when not
        assessable)."""
        t_start = time.perf_counter()
        geometry: dict[str, np.ndarray] = {}
        if not unit.datasets:
            raise AnalyzerError("the analysis unit holds no dataset")
        ds = unit.datasets[0]
        cfg = settings.echo
        view = view_of(ds)
        missing = models.missing(self.required_models)
        if missing:
            raise AnalyzerError("; ".join(missing.values()))
        seg, e2e = models.get(SEG_PACK), models.get(E2E_PACK)
        refs = tuple(ModelRef(p.manifest.name, p.manifest.version, p.manifest.sha256) for p in (seg, e2e))
        timings: dict[str, float] = {}

        def not_assessable(reason: str) -> tuple[QualityResult, dict[str, np.ndarray]]:
            timings["total"] = _ms(t_start)
            return self._result(unit, refs, view, timings, assessable=False, reason=reason), {}

        t0 = time.perf_counter()
        try:
            loop = decode_frames(ds)
        except DecodeError as exc:
            timings["decode"] = _ms(t0)
            return not_assessable(str(exc))
        timings["decode"] = _ms(t0)
        if loop.count < cfg.min_frames:
            return not_assessable(
                f"{loop.count} frame(s) in the loop, fewer than echo.min_frames = {cfg.min_frames}"
            )
        sector = find_sector(loop.grey, loop.colour, loop.regions)
        if sector is None:
            return not_assessable("no ultrasound sector found (no Ultrasound Regions and no fan-shaped "
                                  "image content)")
        if loop.colour is not None:
            share = (loop.colour & sector.mask[None]).sum(axis=(1, 2)) / max(int(sector.mask.sum()), 1)
            if share.max() > DOPPLER_FRACTION:
                return not_assessable(
                    f"colour Doppler inside the sector ({share.max():.0%} of sector pixels in colour); "
                    "regional B-mode quality is not graded on colour-flow loops"
                )
        frames256 = resize_area(loop.grey, RASTER, RASTER)
        sector256 = resize_area(sector.mask.astype(np.float32), RASTER, RASTER) > 0.5
        timings["decode"] = _ms(t0)

        t0 = time.perf_counter()
        try:
            labels = run_segmentation(frames256, seg, cfg.frame_batch)
            scores = run_quality(frames256, e2e, cfg.frame_batch)
        except PackError as exc:
            raise AnalyzerError(str(exc)) from None
        timings["models"] = _ms(t0)

        t0 = time.perf_counter()
        h, w = loop.grey.shape[-2:]
        if sector.spacing_mm:
            radius = (2.0 / (sector.spacing_mm[0] * h / RASTER), 2.0 / (sector.spacing_mm[1] * w / RASTER))
        else:
            radius = (10.0, 10.0)
        regions = divide_loop(labels, sector256, radius)
        if len(regions.failed) == loop.count:
            timings["regions"] = _ms(t0)
            return not_assessable("no left ventricle and myocardium found in any frame (not an apical "
                                  "view, or the heart is outside the sector)")
        stride = max(1, int(np.ceil(loop.count / 32)))
        metrics = loop_metrics(frames256, sector256, labels, regions.masks, stride)
        lv_area = ((labels == 1) & sector256[None]).sum(axis=(1, 2))
        names_by_id = segment_names(view)
        names = [names_by_id[i] for i in ECHO_REGION_IDS]
        summary = summarise(scores, regions.inside_share, lv_area, cfg, names)
        timings["regions"] = _ms(t0)

        reasons = list(summary.reasons)
        if regions.failed:
            shown = ", ".join(str(i + 1) for i in regions.failed[:10])
            more = "…" if len(regions.failed) > 10 else ""
            reasons.append(f"region division failed on frame(s) {shown}{more}; neighbouring frames used")
        region_results = []
        with warnings.catch_warnings():  # a region empty on every evaluated frame → NaN → null
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_metrics = np.nanmean(metrics, axis=0)
        for j, rid in enumerate(ECHO_REGION_IDS):
            score = float(summary.mean[j])
            region_results.append(
                RegionResult(
                    id=rid,
                    name=names[j],
                    score=round(score, 3),
                    label=ECHO_SCALE.label_for(score),
                    in_sector=bool(summary.in_sector[j]),
                    min=round(float(summary.min[j]), 3),
                    fraction_ok=round(float(summary.fraction_ok[j]), 4),
                    frame_scores=tuple(round(float(s), 3) for s in scores[:, j]),
                    approved_for_strain=bool(summary.approved[j]) if j < 6 else None,
                    metrics={n: _r(mean_metrics[j, k]) for k, n in enumerate(METRIC_NAMES)},
                )
            )
        if summary.ed:
            geometry = region_polygons(regions.masks[summary.ed[0]], loop.grey.shape[-2:])
        timings["total"] = _ms(t_start)
        return QualityResult(
            **unit.identity(),
            analyzer=self.name,
            analyzer_version=self.version,
            modality="US",
            assessable=True,
            scale=ECHO_SCALE,
            models=refs,
            view=view,
            global_grade=GlobalGrade(round(summary.global_score, 3), ECHO_SCALE.label_for(summary.global_score)),
            regions=tuple(region_results),
            frames=Frames(loop.count, tuple(i + 1 for i in summary.ed), tuple(i + 1 for i in summary.es)),
            decisions=Decisions(rescan_recommended=summary.rescan, reasons=tuple(reasons),
                                ef_suitable=summary.ef_suitable),
            timings_ms=timings,
        ), geometry

    def _result(self, unit: AnalysisUnit, refs: tuple[ModelRef, ...], view: str | None,
                timings: dict[str, float], *, assessable: bool, reason: str) -> QualityResult:
        return QualityResult(
            **unit.identity(),
            analyzer=self.name,
            analyzer_version=self.version,
            modality="US",
            assessable=assessable,
            reason=reason,
            scale=ECHO_SCALE,
            models=refs,
            view=view,
            decisions=Decisions(rescan_recommended=False, reasons=(reason,), ef_suitable=False),
            timings_ms=timings,
        )
