"""Small synthetic sources and results for the outputs' tests and documentation.

Not a scanner simulator (that is ``models.synthetic``): just enough DICOM to build, validate and
look at the SR and SC objects, including deliberately malformed sources (invalid DA/TM, odd person
names, missing type 2 attributes, retired elements).
"""

from __future__ import annotations

import uuid

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from analyzers.base.result import (
    ECHO_REGION_IDS,
    ECHO_SCALE,
    MR_REGION_IDS,
    MR_SCALE,
    Decisions,
    Frames,
    GlobalGrade,
    ModelRef,
    QualityResult,
    RegionResult,
)

__all__ = ["echo_source", "echo_result", "echo_geometry", "mr_sources", "mr_result", "not_assessable_result", "uid"]

US_MF = "1.2.840.10008.5.1.4.1.1.3.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
_NAMES = {
    "A4C": ("basal inferoseptal", "mid inferoseptal", "apical septal", "apical lateral", "mid anterolateral",
            "basal anterolateral", "inferoseptal mitral annulus", "anterolateral mitral annulus"),
    "A2C": ("basal inferior", "mid inferior", "apical inferior", "apical anterior", "mid anterior",
            "basal anterior", "inferior mitral annulus", "anterior mitral annulus"),
    "ALAX": ("basal inferolateral", "mid inferolateral", "apical lateral", "apical anterior", "mid anteroseptal",
             "basal anteroseptal", "inferolateral mitral annulus", "anteroseptal mitral annulus"),
}


def uid(*parts: object) -> str:
    """A deterministic 2.25 UID from ``parts``."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, '|'.join(map(str, parts))).int}"


def _base(sop_class: str, sop_uid: str, study: str, series: str, malformed: bool) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    if malformed:
        ds.PatientName = "Müller-O'Brien^José Ñ^^Dr.^=山田^太郎"
        ds.PatientID = "  ID 0042/ä "
        ds.StudyDate = "2024-13-45"
        ds.StudyTime = "25:61"
        ds.PatientBirthDate = "19xx0101"
        ds.PatientSex = "unknown"
        ds.PatientAge = "42 years"
        ds.add_new(0x00280005, "US", 2)  # Image Dimensions (retired)
        ds.add_new(0x00081040, "LO", "bad\\multi")  # Institutional Department Name, two values
    else:
        ds.PatientName = "Synthetic^Echo"
        ds.PatientID = "SYN-0001"
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.StudyDate = "20240102"
        ds.StudyTime = "101500"
        ds.AccessionNumber = "ACC1"
        ds.StudyID = "S1"
        ds.ReferringPhysicianName = ""
    ds.InstanceNumber = 1
    ds.SeriesNumber = 1
    ds.Manufacturer = "Synthetic"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return ds


def echo_source(view: str = "A4C", frames: int = 12, rows: int = 120, cols: int = 160,
                malformed: bool = False, seed: int = 0) -> Dataset:
    """An Ultrasound Multi-frame Image (MONOCHROME2, uncompressed) with a beating 'ventricle'."""
    study = uid("study", seed)
    ds = _base(US_MF, uid("echo", view, seed, malformed), study, uid("series", view, seed), malformed)
    ds.Modality = "US"
    ds.SeriesDescription = f"{view} synthetic"
    yy, xx = np.mgrid[0:rows, 0:cols]
    cone = (np.abs(xx - cols / 2) < (yy + 5) * 0.7) & (yy < rows - 4)
    pix = np.zeros((frames, rows, cols), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for f in range(frames):
        r = 1.0 + 0.15 * np.cos(2 * np.pi * f / frames)
        ell = ((xx - cols / 2) / (18 * r)) ** 2 + ((yy - rows * 0.55) / (40 * r)) ** 2
        img = np.where((ell > 1) & (ell < 1.8), 170, 30) + rng.integers(0, 40, (rows, cols))
        pix[f] = np.where(cone, img, 0).astype(np.uint8)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = frames
    ds.FrameTime = 33.3
    ds.FrameIncrementPointer = 0x00181063
    ds.PixelData = pix.tobytes()
    return ds


def echo_result(source: Dataset, view: str | None = "A4C", analysis_uid: str | None = None) -> QualityResult:
    """A plausible echo result for ``source`` (8 regions, per-frame scores, ED/ES)."""
    frames = int(source.NumberOfFrames)
    names = _NAMES.get(view or "", ECHO_REGION_IDS)
    regions = []
    for i, rid in enumerate(ECHO_REGION_IDS):
        base = 1.6 + 0.45 * i
        fs = tuple(round(min(5.0, max(1.0, base + 0.3 * float(np.sin(f + i)))), 2) for f in range(frames))
        score = round(sum(fs) / frames, 3)
        segment = i < 6
        regions.append(RegionResult(
            id=rid, name=names[i], score=score, label=ECHO_SCALE.label_for(score), min=min(fs),
            fraction_ok=round(sum(s >= 3 for s in fs) / frames, 3), frame_scores=fs,
            approved_for_strain=bool(sum(s >= 3 for s in fs) / frames >= 0.9) if segment else None,
            metrics={"gcnr": 0.5 + 0.05 * i, "cnr": 1.1, "cr": 2.0, "intensity": 120.0 + i},
        ))
    g = round(sum(r.score for r in regions[:6]) / 6, 3)
    return QualityResult(
        analysis_uid=analysis_uid or uid("analysis", source.SOPInstanceUID),
        analyzer="echo-regional", analyzer_version="1.0.0",
        models=(ModelRef("echo-e2e", "1.0.0", "ab" * 32), ModelRef("echo-seg", "1.0.0", "cd" * 32)),
        study_instance_uid=source.StudyInstanceUID, series_instance_uid=source.SeriesInstanceUID,
        sop_instance_uids=(source.SOPInstanceUID,), modality="US", view=view, assessable=True,
        scale=ECHO_SCALE, global_grade=GlobalGrade(g, ECHO_SCALE.label_for(g)), regions=tuple(regions),
        frames=Frames(frames, (1, frames // 2 + 1 + frames // 2 - 1), (frames // 2,)),
        decisions=Decisions(rescan_recommended=g < 2.5, reasons=("2 segments below 2.0: basal, mid",),
                            ef_suitable=False),
    )


def echo_geometry(source: Dataset) -> dict[str, np.ndarray]:
    """Rough polygons (column, row) for the eight regions on the source raster."""
    rows, cols = int(source.Rows), int(source.Columns)
    cx, out = cols / 2, {}
    spans = [(0.75, 0.95), (0.5, 0.75), (0.3, 0.5)]
    for i, rid in enumerate(ECHO_REGION_IDS[:6]):
        side = -1 if i < 3 else 1
        lo, hi = spans[i] if i < 3 else spans[5 - i]
        x0, x1 = cx + side * 14, cx + side * 28
        out[rid] = np.array([[x0, rows * lo], [x1, rows * lo], [x1, rows * hi], [x0, rows * hi]])
    for rid, side in (("annulus_left", -1), ("annulus_right", 1)):
        t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        out[rid] = np.stack([cx + side * 20 + 4 * np.cos(t), rows * 0.97 - 4 + 4 * np.sin(t)], axis=1)
    return out


def mr_sources(slices: int = 24, size: int = 48, malformed: bool = False, seed: int = 0) -> list[Dataset]:
    """An axial MR Image series (2 mm spacing) with a bright blob, shuffled InstanceNumbers."""
    study, series = uid("mr-study", seed), uid("mr-series", seed)
    zz, yy, xx = np.mgrid[0:slices, 0:size, 0:size]
    vol = (800 * np.exp(-(((xx - size / 2) / 10) ** 2 + ((yy - size / 2) / 8) ** 2 + ((zz - slices / 2) / 6) ** 2))
           + 50).astype(np.uint16)
    out = []
    for k in range(slices):
        ds = _base(MR_IMAGE, uid("mr", seed, k, malformed), study, series, malformed)
        ds.Modality = "MR"
        ds.InstanceNumber = (k * 7) % slices + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-size, -size, -slices + 2.0 * k]
        ds.PixelSpacing = [2, 2]
        ds.SliceThickness = 2
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = vol[k].tobytes()
        out.append(ds)
    return out


def mr_result(sources: list[Dataset], analysis_uid: str | None = None) -> QualityResult:
    """A plausible MR result: octant and orientation grades."""
    regions = tuple(
        RegionResult(id=rid, name=rid, score=s, label=MR_SCALE.label_for(s), min=max(0.0, s - 0.5))
        for rid, s in zip(MR_REGION_IDS, (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 2.0, 2.5, 3.0), strict=True)
    )
    return QualityResult(
        analysis_uid=analysis_uid or uid("analysis", sources[0].SeriesInstanceUID),
        analyzer="mr-wholeheart", analyzer_version="1.0.0", models=(ModelRef("mr-iq", "1.0.0", "ef" * 32),),
        study_instance_uid=sources[0].StudyInstanceUID, series_instance_uid=sources[0].SeriesInstanceUID,
        sop_instance_uids=tuple(s.SOPInstanceUID for s in sources), modality="MR", assessable=True,
        scale=MR_SCALE, global_grade=GlobalGrade(2.5, MR_SCALE.label_for(2.5)), regions=regions,
        decisions=Decisions(rescan_recommended=False),
    )


def not_assessable_result(source: Dataset, reason: str = "colour Doppler inside the sector") -> QualityResult:
    """A not-assessable echo result."""
    return QualityResult(
        analysis_uid=uid("analysis-na", source.SOPInstanceUID), analyzer="echo-regional", analyzer_version="1.0.0",
        study_instance_uid=source.StudyInstanceUID, series_instance_uid=source.SeriesInstanceUID,
        sop_instance_uids=(source.SOPInstanceUID,), modality="US", view=None, assessable=False, reason=reason,
        scale=ECHO_SCALE, decisions=Decisions(rescan_recommended=True, reasons=(reason,)),
    )


def write_doc_assets(out_dir: str) -> None:
    """Write ``sc_echo.png`` / ``sc_mr.png`` and the example SR (``example_sr.dcm``) to ``out_dir``.

    ``python -m dicom_node.reports.examples docs/img`` regenerates the pictures in docs/outputs.md.
    """
    from pathlib import Path

    from PIL import Image

    from config.settings import Settings

    from . import build_output_objects

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = echo_source("A4C", frames=12, rows=240, cols=320)
    objs = build_output_objects(echo_result(src, "A4C"), [src], Settings(), geometry=echo_geometry(src))
    objs[0].dataset.save_as(out / "example_sr.dcm", enforce_file_format=True)
    cine = next(o.dataset for o in objs if o.kind == "sc-cine")
    Image.fromarray(cine.pixel_array[0]).save(out / "sc_echo.png", optimize=True)
    mr = mr_sources(slices=40, size=64)
    mr_objs = build_output_objects(mr_result(mr), mr, Settings())
    axial = next(o.dataset for o in mr_objs if o.kind == "sc-mr")
    Image.fromarray(axial.pixel_array).save(out / "sc_mr.png", optimize=True)


if __name__ == "__main__":
    import sys

    write_doc_assets(sys.argv[1] if len(sys.argv) > 1 else "docs/img")
