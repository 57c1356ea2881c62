"""MR DICOM writers: classic MR Image Storage series and Enhanced MR Image Storage.

Classic series (PS3.3 A.4) are written one file per slice in a shuffled order (file names are
a random permutation ``IM0001.dcm`` … so that sorting by name does not give the slice order);
receivers must sort by Image Position (Patient) along the slice normal. Awkward cases are built
from the same writer: a missing slice (``drop_slice``) and a localizer mixed into the series
(``localizer``). Enhanced MR (PS3.3 A.36.2) is one multi-frame object with functional groups.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage

from models.synthetic.common import derive_uid
from models.synthetic.mr.dicom_common import PIXEL_SCALE, SeriesInfo, base_dataset, to_pixels
from models.synthetic.mr.dicom_enhanced import enhanced_dataset, write_enhanced
from models.synthetic.mr.reslice import SliceStack, reformat

__all__ = [
    "PIXEL_SCALE",
    "SeriesInfo",
    "SliceStack",
    "classic_dataset",
    "enhanced_dataset",
    "reformat",
    "write_classic_series",
    "write_enhanced",
]


def classic_dataset(
    stack: SliceStack, s: int, info: SeriesInfo, instance_number: int, *, localizer: bool = False
) -> Dataset:
    """One MR Image Storage dataset for slice ``s`` of ``stack``."""
    sop_uid = derive_uid(0, info.series_instance_uid, "localizer" if localizer else "slice", s)
    ds = base_dataset(info, MRImageStorage, sop_uid)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER" if localizer else "OTHER"]
    ds.AcquisitionNumber = 2 if localizer else 1
    ds.InstanceNumber = instance_number
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = "SS"
    ds.ScanOptions = "FS"
    ds.MRAcquisitionType = "2D" if localizer else "3D"
    ds.SequenceName = "*tfi2d1" if localizer else "*tfi3d1"
    ds.AngioFlag = "N"
    ds.SliceThickness = round(stack.slice_spacing, 6)
    ds.RepetitionTime = info.repetition_time
    ds.EchoTime = info.echo_time
    ds.NumberOfAverages = 1
    ds.ImagingFrequency = 63.87
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = 1
    ds.MagneticFieldStrength = info.field_strength
    if not localizer:
        ds.SpacingBetweenSlices = round(stack.slice_spacing, 6)
    ds.EchoTrainLength = 1
    ds.FlipAngle = info.flip_angle
    pos = stack.positions[s]
    ds.ImagePositionPatient = [round(float(v), 6) + 0.0 for v in pos]
    ds.ImageOrientationPatient = stack.iop
    ds.SliceLocation = round(float(pos @ stack.normal), 6) + 0.0
    ds.PixelSpacing = [round(v, 6) for v in stack.pixel_spacing]
    pix = to_pixels(stack.pixels[s])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(pix.shape[0]), int(pix.shape[1])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 700, 1400
    ds.PixelData = np.ascontiguousarray(pix).tobytes()
    return ds


def write_classic_series(
    stack: SliceStack,
    info: SeriesInfo,
    out_dir: Path,
    rng: np.random.Generator,
    *,
    drop_slice: int | None = None,
    localizer: SliceStack | None = None,
) -> list[Path]:
    """Write ``stack`` as a classic MR series (one file per slice, shuffled) into ``out_dir``.

    Parameters
    ----------
    rng
        Decides the shuffled file order (and nothing else).
    drop_slice
        Index of a slice to leave out (the "missing slice" awkward case).
    localizer
        Slices of another orientation written into the same series with ImageType LOCALIZER.

    Returns the written paths in writing order.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    items: list[tuple[SliceStack, int, bool]] = [(stack, s, False) for s in range(len(stack.pixels)) if s != drop_slice]
    if localizer is not None:
        items += [(localizer, s, True) for s in range(len(localizer.pixels))]
    names = rng.permutation(len(items))
    order = rng.permutation(len(items))
    paths: list[Path] = []
    for w in order:
        st, s, loc = items[w]
        path = out_dir / f"IM{names[w] + 1:04d}.dcm"
        classic_dataset(st, s, info, int(w) + 1, localizer=loc).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
