"""Helpers for the echo tests: small US DICOM loops in every photometric / transfer syntax.

Imported by tests/unit/test_echo_*.py and tests/integration/test_analyze_cli*.py (``tests/`` is
on sys.path through its conftest.py).
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

__all__ = ["fan_loop", "legacy_palette_file", "make_us", "write_us"]

LEGACY_NAME = "US-PAL-8-10x-echo.dcm"


def fan_loop(frames: int = 10, h: int = 240, w: int = 320, seed: int = 0, text: bool = True) -> np.ndarray:
    """A uint8 (F, H, W) phased-array-like loop: speckle fan, dark pulsing cavity, burnt-in text."""
    rng = np.random.default_rng(seed)
    r = np.arange(h)[:, None].astype(float)
    c = np.arange(w)[None, :].astype(float)
    apex_r, apex_c = 8.0, w / 2
    ang = np.arctan2(c - apex_c, r - apex_r)
    rad = np.hypot(c - apex_c, r - apex_r)
    fan = (np.abs(ang) < 0.6) & (rad < h * 0.92) & (rad > 4)
    out = np.zeros((frames, h, w), dtype=np.uint8)
    for i in range(frames):
        s = 1.0 + 0.12 * np.sin(2 * np.pi * i / max(frames, 2))
        cavity = ((r - h * 0.45) / (h * 0.22 * s)) ** 2 + ((c - apex_c) / (w * 0.08 * s)) ** 2 <= 1
        img = rng.rayleigh(45, size=(h, w)) * fan
        img[cavity] *= 0.15
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    if text:
        out[:, 4:12, 6:60] = 220  # static "text" block top-left
        out[:, h - 12 : h - 6, 10 : w - 10] = 0
        out[:, h - 10, 10 : w - 10] = 200  # ECG-like line
    return out


def make_us(
    frames: np.ndarray,
    photometric: str = "MONOCHROME2",
    syntax: str = ExplicitVRLittleEndian,
    region: tuple[int, int, int, int] | None = None,
    spacing_cm: tuple[float, float] = (0.03, 0.03),
    view_code: str | None = None,
    description: str = "",
    seed: int = 0,
) -> Dataset:
    """An Ultrasound Multi-frame Image dataset holding ``frames`` (F,H,W) grey or (F,H,W,3) RGB.

    ``photometric`` picks the stored form: MONOCHROME2, RGB, YBR_FULL, YBR_FULL_422 (JPEG
    baseline only) or PALETTE COLOR (grey ramp LUT).
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.TransferSyntaxUID = syntax
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[f"sop{seed}"])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"study{seed}"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[f"series{seed}"])
    ds.Modality = "US"
    ds.PatientName = "SYNTH^ECHO"
    ds.PatientID = "SYNTH0001"
    ds.SeriesDescription = description
    f, h, w = frames.shape[:3]
    ds.NumberOfFrames = f
    ds.Rows, ds.Columns = h, w
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.FrameTime = 20.0
    grey = frames if frames.ndim == 3 else frames.mean(axis=-1).astype(np.uint8)
    if photometric == "MONOCHROME2":
        ds.SamplesPerPixel = 1
        data = grey
    elif photometric == "PALETTE COLOR":
        ds.SamplesPerPixel = 1
        lut = (np.arange(256, dtype=np.uint16) * 257).tobytes()
        for c in ("Red", "Green", "Blue"):
            setattr(ds, f"{c}PaletteColorLookupTableDescriptor", [256, 0, 16])
            setattr(ds, f"{c}PaletteColorLookupTableData", lut)
        data = grey
    else:
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        rgb = frames if frames.ndim == 4 else np.repeat(grey[..., None], 3, axis=-1)
        data = rgb
        if photometric == "YBR_FULL":
            from pydicom.pixels import convert_color_space

            data = convert_color_space(rgb, "RGB", "YBR_FULL")
    ds.PhotometricInterpretation = photometric
    if syntax == JPEGBaseline8Bit:
        from PIL import Image

        chunks = []
        for fr in data:
            buf = io.BytesIO()
            img = Image.fromarray(fr if fr.ndim == 2 else fr.astype(np.uint8), "L" if fr.ndim == 2 else "RGB")
            img.save(buf, format="JPEG", quality=95, subsampling=2 if fr.ndim == 3 else 0)
            chunks.append(buf.getvalue())
        ds.PixelData = encapsulate(chunks)
        ds["PixelData"].VR = "OB"
        if ds.SamplesPerPixel == 3:
            ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.LossyImageCompression = "01"
    elif syntax in (RLELossless, JPEG2000Lossless, JPEGLSLossless):
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = np.ascontiguousarray(data).tobytes()
        ds.compress(syntax)
    else:
        ds.PixelData = np.ascontiguousarray(data).tobytes()
    if region is not None:
        item = Dataset()
        item.RegionSpatialFormat = 1
        item.RegionDataType = 1
        item.RegionFlags = 0
        item.RegionLocationMinX0, item.RegionLocationMinY0, item.RegionLocationMaxX1, item.RegionLocationMaxY1 = region
        item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3
        item.PhysicalDeltaX, item.PhysicalDeltaY = spacing_cm[1], spacing_cm[0]
        ds.SequenceOfUltrasoundRegions = [item]
    if view_code:
        code = Dataset()
        code.CodeValue = view_code
        code.CodingSchemeDesignator = "SCT"
        code.CodeMeaning = "view"
        ds.ViewCodeSequence = [code]
    return ds


def write_us(path: Path, frames: np.ndarray, **kw: object) -> Path:
    """Write :func:`make_us` to ``path`` and return it."""
    ds = make_us(frames, **kw)  # type: ignore[arg-type]
    ds.save_as(path, enforce_file_format=True)
    return Path(path)


def legacy_palette_file(cache: Path) -> Path:
    """GDCM's ``US-PAL-8-10x-echo.dcm`` (palette colour, RLE, 10-frame colour Doppler).

    Taken from Debian's ``octave-dicom`` package (which ships GDCM's test image) with
    ``apt-get download`` + ``dpkg -x``, without installing Octave; cached under ``cache``.
    """
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / LEGACY_NAME
    if target.is_file():
        return target
    work = cache / "octave-dicom"
    work.mkdir(exist_ok=True)
    if not list(work.glob("octave-dicom*.deb")):
        subprocess.run(["apt-get", "download", "octave-dicom"], cwd=work, check=True, capture_output=True)
    deb = sorted(work.glob("octave-dicom*.deb"))[-1]
    subprocess.run(["dpkg", "-x", str(deb), str(work / "x")], check=True, capture_output=True)
    found = sorted((work / "x").rglob(LEGACY_NAME))
    if not found:
        raise FileNotFoundError(f"{LEGACY_NAME} not found in {deb.name}")
    target.write_bytes(found[0].read_bytes())
    return target


def read(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)


def horseshoe_labels(size: int = 256) -> np.ndarray:
    """A fixed A4C-like label map: LV ellipse, horseshoe myocardium, LA below (apex up)."""
    r = np.arange(size)[:, None] * (256 / size)
    c = np.arange(size)[None, :] * (256 / size)
    lab = np.zeros((size, size), np.uint8)
    outer = ((r - 130) / 85.0) ** 2 + ((c - 128) / 48.0) ** 2 <= 1
    inner = ((r - 130) / 72.0) ** 2 + ((c - 128) / 35.0) ** 2 <= 1
    lab[outer & (r < 180)] = 2
    lab[inner & (r < 180)] = 1
    lab[(((r - 205) / 25.0) ** 2 + ((c - 128) / 45.0) ** 2 <= 1) & (r >= 180)] = 3
    return lab


def constant_seg_onnx(path: Path, raster: int = 128) -> Path:
    """An ONNX graph N×1×raster² → N×5×256×256 whose argmax is :func:`horseshoe_labels`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    logits = np.eye(5, dtype=np.float32)[horseshoe_labels()].transpose(2, 0, 1)[None] * 10.0
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["m"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["z", "logits"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "const-seg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, raster, raster])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 5, 256, 256])],
        initializer=[numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
                     numpy_helper.from_array(logits, "logits")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def arqee_like_onnx(path: Path) -> Path:
    """arqee's published interface: N×1×256×256 raw 0..255 → N×8; here 1 + 4·mean/255 per region."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["input"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["m", "ax"], ["m2"]),
        helper.make_node("MatMul", ["m2", "w"], ["y"]),
        helper.make_node("Add", ["y", "b"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "arqee-like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 256, 256])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 8])],
        initializer=[
            numpy_helper.from_array(np.array([1], np.int64), "ax"),
            numpy_helper.from_array(np.full((1, 8), 4.0 / 255.0, np.float32), "w"),
            numpy_helper.from_array(np.ones(8, np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def seg_manifest(raster: int = 128) -> dict:
    """Manifest for :func:`constant_seg_onnx` (sha256 filled by write_pack)."""
    return {
        "name": "echo-seg", "version": "test", "task": "echo-segmentation",
        "input": {"shape": ["N", 1, raster, raster], "value_range": [0, 255], "normalisation": "raw",
                  "raster": [raster, raster]},
        "output": {"shape": ["N", 5, 256, 256], "meaning": "logits",
                   "class_labels": ["background", "LV", "MYO", "LA", "AO"]},
    }


def arqee_manifest(slope: float = 1.0, intercept: float = 0.0) -> dict:
    """Manifest of an arqee-interface pack."""
    return {
        "name": "echo-e2e", "version": "arqee-test", "task": "echo-regional-quality",
        "input": {"shape": ["N", 1, 256, 256], "value_range": [0, 255], "normalisation": "raw 0..255",
                  "raster": [256, 256], "preprocessing": "whole frame resized"},
        "output": {"shape": ["N", 8], "meaning": "regional quality",
                   "region_order": ["basal_left", "mid_left", "apical_left", "apical_right", "mid_right",
                                    "basal_right", "annulus_left", "annulus_right"]},
        "calibration": {"slope": slope, "intercept": intercept},
        "scale": {"min": 1, "max": 5},
    }


def fixed_packs(packs_dir: Path, slope: float = 1.0, intercept: float = 0.0) -> Path:
    """Write the constant segmentation pack and an arqee-interface quality pack under ``packs_dir``."""
    from models.train.packaging import write_pack

    packs_dir.mkdir(parents=True, exist_ok=True)
    write_pack(packs_dir / "echo-seg", constant_seg_onnx(packs_dir / "seg.onnx"), seg_manifest())
    write_pack(packs_dir / "echo-e2e", arqee_like_onnx(packs_dir / "e2e.onnx"), arqee_manifest(slope, intercept))
    (packs_dir / "seg.onnx").unlink()
    (packs_dir / "e2e.onnx").unlink()
    return packs_dir
