"""The demo's input set: synthetic echo loops and MR series, plus one not-assessable loop."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.encaps import encapsulate, generate_frames

__all__ = ["DemoInputs", "generate_inputs", "make_short_loop"]

SHORT_LOOP_FRAMES = 4  # below echo.min_frames (8): the node reports "not assessable"


@dataclass(frozen=True)
class DemoInputs:
    """What the demo sends: files and how many analyses they should produce."""

    files: list[Path]
    echo_instances: int
    mr_series: int
    truth: list[dict]

    @property
    def expected_analyses(self) -> int:
        return self.echo_instances + self.mr_series


def _uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def make_short_loop(src: Path, dst: Path, frames: int = SHORT_LOOP_FRAMES) -> Path:
    """Copy an echo loop keeping only its first ``frames`` frames, as a new series.

    The copy is a valid object (new Series/SOP Instance UIDs) that the node must grade as not
    assessable (too few frames), which the demo shows next to the graded ones.
    """
    ds = dcmread(src)
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    keep = min(frames, n)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        frames_iter = generate_frames(ds.PixelData, number_of_frames=n)
        kept = [f for _, f in zip(range(keep), frames_iter, strict=False)]
        ds.PixelData = encapsulate(kept)
    else:
        frame_bytes = len(ds.PixelData) // n
        ds.PixelData = ds.PixelData[: frame_bytes * keep]
    ds.NumberOfFrames = keep
    if "FrameTimeVector" in ds:
        del ds.FrameTimeVector
    ds.SeriesInstanceUID = _uid()
    ds.SOPInstanceUID = _uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesDescription = "Echo short loop (demo: not assessable)"
    ds.SeriesNumber = 99
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst, enforce_file_format=True)
    return dst


def _dicom_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".dcm", ""))


def generate_inputs(out_dir: Path, n_echo: int, n_mr: int, seed: int, small: bool) -> DemoInputs:
    """Write the synthetic set under ``out_dir`` (``echo_set/``, ``mr_set/``, ``extra/``)."""
    from models.synthetic.echo import generate_studies as echo_studies
    from models.synthetic.mr import generate_studies as mr_studies

    truth: list[dict] = []
    files: list[Path] = []
    echo_files: list[Path] = []
    mr_files: list[Path] = []
    if n_echo:
        # each generator writes its own truth.json: separate folders keep both
        truth += list(echo_studies(out_dir / "echo_set", n=n_echo, seed=seed, small=small, preview=None))
        echo_files = [p for p in _dicom_files(out_dir / "echo_set") if _is_dicom(p)]
    if n_mr:
        truth += list(mr_studies(out_dir / "mr_set", n=n_mr, seed=seed + 1, small=small, preview=None))
        mr_files = [p for p in _dicom_files(out_dir / "mr_set") if _is_dicom(p)]
    files = echo_files + mr_files
    if echo_files:
        files.append(make_short_loop(echo_files[0], out_dir / "extra" / "short_loop.dcm"))
    mr_series = {str(dcmread(p, stop_before_pixels=True).SeriesInstanceUID) for p in mr_files}
    us = len(files) - len(mr_files)
    return DemoInputs(files=files, echo_instances=us, mr_series=len(mr_series), truth=truth)


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False
