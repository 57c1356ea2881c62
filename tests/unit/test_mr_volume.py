"""MR series assembly and checks: sorting by position, functional groups, every check's reason.

Also holds the in-memory DICOM series builders used by the other ``test_mr_*`` modules.
"""

from __future__ import annotations

import random

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from analyzers.mr import NotAssessable, assemble_volume

MR = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"


def _base(sop_class: str, rows: int, cols: int, series_uid: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "MR"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    return ds


def _stored(img: np.ndarray, slope: float, intercept: float) -> bytes:
    return np.clip(np.round((img - intercept) / slope), 0, 65535).astype("<u2").tobytes()


def classic_series(
    data: np.ndarray,
    iop: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    pixel_spacing: tuple[float, float] = (1.0, 1.0),
    slice_spacing: float = 1.0,
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    slope: float = 1.0,
    intercept: float = 0.0,
    shuffle: bool = True,
) -> list[Dataset]:
    """One classic MR instance per ``data[k]`` (rows × columns), positions along the normal."""
    rc, cc = np.array(iop[:3], float), np.array(iop[3:], float)
    normal = np.cross(rc, cc)
    series = generate_uid()
    out = []
    for k, img in enumerate(data):
        ds = _base(MR, img.shape[0], img.shape[1], series)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.ImagePositionPatient = [float(v) for v in np.asarray(origin) + k * slice_spacing * normal]
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.PixelSpacing = list(pixel_spacing)
        ds.SliceThickness = slice_spacing
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.InstanceNumber = len(data) - k  # deliberately the reverse of the position order
        ds.EchoTime = 1.5
        ds.PixelData = _stored(img, slope, intercept)
        out.append(ds)
    if shuffle:
        random.Random(0).shuffle(out)
    return out


def enhanced_series(data: np.ndarray, slice_spacing: float = 1.0, shared: bool = True,
                    slope: float = 2.0, intercept: float = -10.0) -> Dataset:
    """One Enhanced MR object; geometry in shared or per-frame functional groups, frames reversed."""
    n, rows, cols = data.shape
    ds = _base(ENHANCED_MR, rows, cols, generate_uid())
    ds.NumberOfFrames = n
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    def measures() -> Dataset:
        m = Dataset()
        m.PixelSpacing = [1.0, 1.0]
        m.SliceThickness = slice_spacing
        return m
    def orient() -> Dataset:
        o = Dataset()
        o.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        return o
    def transform() -> Dataset:
        t = Dataset()
        t.RescaleSlope, t.RescaleIntercept, t.RescaleType = slope, intercept, "US"
        return t
    sh = Dataset()
    if shared:
        sh.PixelMeasuresSequence = Sequence([measures()])
        sh.PlaneOrientationSequence = Sequence([orient()])
        sh.PixelValueTransformationSequence = Sequence([transform()])
    ds.SharedFunctionalGroupsSequence = Sequence([sh])
    frames, order = [], list(range(n))[::-1]
    for k in order:
        pf = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [0.0, 0.0, k * slice_spacing]
        pf.PlanePositionSequence = Sequence([pos])
        if not shared:
            pf.PixelMeasuresSequence = Sequence([measures()])
            pf.PlaneOrientationSequence = Sequence([orient()])
            pf.PixelValueTransformationSequence = Sequence([transform()])
        frames.append(pf)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = b"".join(_stored(data[k], slope, intercept) for k in order)
    return ds


def ramp(n: int = 48, rows: int = 32, cols: int = 40) -> np.ndarray:
    """Values that encode their own index: 1300·k + 40·j + i (k slice, j row, i column)."""
    k, j, i = np.meshgrid(np.arange(n), np.arange(rows), np.arange(cols), indexing="ij")
    return (1300.0 * k + 40.0 * j + i).astype(np.float64)


def test_classic_sorted_by_position_not_instance_number() -> None:
    data = ramp()
    vol = assemble_volume(classic_series(data), min_slices=40, min_extent_mm=40)
    assert vol.shape == data.shape
    np.testing.assert_allclose(vol.data, data)
    np.testing.assert_allclose(vol.affine[:3, 3], [0, 0, 0])
    np.testing.assert_allclose(vol.affine[:3, 2], [0, 0, 1])


def test_descending_positions_and_rescale() -> None:
    data = ramp()
    # normal = row × column = (1,0,0) × (0,0,-1) = (0,1,0): a coronal stack
    dss = classic_series(data, iop=(1, 0, 0, 0, 0, -1), slope=2.0, intercept=-100.0, origin=(5.0, -20.0, 3.0))
    vol = assemble_volume(dss, min_slices=40, min_extent_mm=40)
    np.testing.assert_allclose(vol.data, data, atol=1.01)
    np.testing.assert_allclose(vol.affine[:3, 2], [0, 1, 0])


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("sop_class", [ENHANCED_MR, "1.2.840.10008.5.1.4.1.1.4.4"])  # + Legacy Converted
def test_enhanced_functional_groups(shared: bool, sop_class: str) -> None:
    data = ramp(n=44)
    ds = enhanced_series(data, shared=shared)
    ds.SOPClassUID = sop_class
    vol = assemble_volume([ds], min_slices=40, min_extent_mm=40)
    np.testing.assert_allclose(vol.data, data, atol=1.1)
    assert vol.slice_spacing == pytest.approx(1.0)


def _reason(dss: list[Dataset], **kw: float) -> str:
    with pytest.raises(NotAssessable) as exc:
        assemble_volume(dss, min_slices=int(kw.get("min_slices", 40)), min_extent_mm=kw.get("min_extent_mm", 40.0))
    return exc.value.reason


def test_missing_slice() -> None:
    dss = classic_series(ramp(), shuffle=False)
    del dss[20]
    assert "missing slice" in _reason(dss)


def test_duplicate_slice() -> None:
    dss = classic_series(ramp(), shuffle=False)
    dup = pydicom.Dataset(dss[10])
    dup.SOPInstanceUID = generate_uid()
    assert "duplicate slices" in _reason(dss + [dup])


def test_several_echoes() -> None:
    a = classic_series(ramp())
    b = classic_series(ramp())
    for ds in b:
        ds.EchoTime = 4.0
    assert "several echoes" in _reason(a + b)


def test_several_phases() -> None:
    a = classic_series(ramp())
    b = classic_series(ramp())
    for ds, t in [(d, 0.0) for d in a] + [(d, 400.0) for d in b]:
        ds.TriggerTime = t
    assert "cardiac phases" in _reason(a + b)


def test_uneven_spacing() -> None:
    dss = classic_series(ramp(), shuffle=False)
    for k, ds in enumerate(dss):
        ds.ImagePositionPatient = [0.0, 0.0, k * 1.0 + (0.4 if k > 30 else 0.0)]
    assert "uneven slice spacing" in _reason(dss)


def test_mixed_orientations() -> None:
    a = classic_series(ramp(n=24))
    b = classic_series(ramp(n=24), iop=(1, 0, 0, 0, 0, -1))
    assert "mixed orientations" in _reason(a + b)


def test_localizer_by_image_type() -> None:
    dss = classic_series(ramp())
    dss[3].ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    assert "localizer" in _reason(dss)


def test_orientation_outlier() -> None:
    dss = classic_series(ramp())
    scout = classic_series(ramp(n=1), iop=(0, 1, 0, 0, 0, -1))
    assert "orientation outliers" in _reason(dss + scout)


def test_too_few_slices_and_thin_slab() -> None:
    assert "only 20 slices" in _reason(classic_series(ramp(n=20)))
    assert "thinner than mr.min_extent_mm" in _reason(classic_series(ramp(n=44)), min_extent_mm=60.0)


def test_non_image_data() -> None:
    sr = _base("1.2.840.10008.5.1.4.1.1.88.33", 1, 1, "1.2.3")
    assert "non-image data" in _reason([sr])
    ds = classic_series(ramp(n=1))[0]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    assert "not an MR image" in _reason([ds])


def test_missing_geometry_is_a_reason_not_an_exception() -> None:
    dss = classic_series(ramp())
    del dss[0].ImagePositionPatient
    assert "ImagePositionPatient" in _reason(dss)
