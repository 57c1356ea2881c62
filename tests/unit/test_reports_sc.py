"""Secondary Capture outputs (ARCHITECTURE.md §6): frames, size, JPEG, references, attributes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit

from config.settings import Settings
from dicom_node.reports import build_output_objects
from dicom_node.reports import examples as ex
from dicom_node.reports.render import COLOURS, colour_for, source_frames_rgb
from dicom_node.reports.sc import MF_TRUE_COLOR_SC


def _reread(ds: Dataset) -> Dataset:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return dcmread(io.BytesIO(buf.getvalue()))


def _common(ds: Dataset, src: Dataset) -> None:
    assert ds.SOPClassUID == MF_TRUE_COLOR_SC
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert ds.BurnedInAnnotation == "YES" and ds.BodyPartExamined == "HEART"
    assert ds.StudyInstanceUID == src.StudyInstanceUID and ds.SeriesInstanceUID != src.SeriesInstanceUID
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID in {src.SOPInstanceUID} | {
        i.ReferencedSOPInstanceUID for i in ds.SourceImageSequence}
    assert ds.PhotometricInterpretation == "YBR_FULL_422" and ds.Columns % 2 == 0


def test_echo_cine_has_one_frame_per_source_frame_and_decodes() -> None:
    src = _reread(ex.echo_source(frames=9, cols=900, rows=600))  # wider than sc_max_width
    settings = Settings(reports={"sc_max_width": 512})
    objs = build_output_objects(ex.echo_result(src), [src], settings, geometry=ex.echo_geometry(src))
    cine = _reread(next(o.dataset for o in objs if o.kind == "sc-cine"))
    _common(cine, src)
    assert cine.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert int(cine.NumberOfFrames) == 9 and cine.Columns <= 512
    assert cine.FrameIncrementPointer == 0x00181063 and float(cine.FrameTime) == pytest.approx(33.3)
    pixels = cine.pixel_array
    assert pixels.shape == (9, cine.Rows, cine.Columns, 3)
    # the legend swatches are drawn in the grade colours (JPEG is lossy: nearest colour)
    strip = pixels[0, -10, :, :].astype(int)
    nearest = {int(np.argmin([np.abs(px - np.array(c)).sum() for c in COLOURS])) for px in strip[::8]}
    assert len(nearest) >= 1


def test_summary_card_and_mr_reformats() -> None:
    sources = [_reread(s) for s in ex.mr_sources()]
    objs = build_output_objects(ex.mr_result(sources), sources, Settings())
    assert [o.kind for o in objs] == ["sr", "sc-mr", "sc-mr", "sc-mr", "sc-summary"]
    for o in objs[1:]:
        ds = _reread(o.dataset)
        _common(ds, sources[0])
        assert int(ds.NumberOfFrames) == 1 and "FrameIncrementPointer" not in ds
        assert ds.pixel_array.shape == (ds.Rows, ds.Columns, 3) and ds.Columns <= 640
        assert len(ds.SourceImageSequence) == len(sources)
    assert len({o.dataset.SOPInstanceUID for o in objs}) == len(objs)
    assert len({o.dataset.SeriesInstanceUID for o in objs[1:]}) == 1


def test_grade_map_overrides_the_octants() -> None:
    sources = ex.mr_sources(slices=12, size=32)
    result = ex.mr_result(sources)
    grade_map = np.full((12, 32, 32), 0.0, dtype=np.float32)  # everything nondiagnostic → red
    objs = build_output_objects(result, sources, Settings(), grade_map=grade_map)
    axial = _reread(objs[1].dataset).pixel_array
    centre = axial[axial.shape[0] // 3, axial.shape[1] // 2].astype(int)
    assert centre[0] > centre[1] + 20  # reddish tint


def test_source_photometrics_are_decoded_to_rgb() -> None:
    src = ex.echo_source(frames=2)
    rgb = source_frames_rgb(src)
    assert rgb.shape == (2, src.Rows, src.Columns, 3) and rgb.dtype == np.uint8
    src.PhotometricInterpretation = "MONOCHROME1"
    inverted = source_frames_rgb(src)
    assert int(inverted[0, 0, 0, 0]) == 255 - int(rgb[0, 0, 0, 0])
    assert colour_for(ex.echo_result(src).scale, 5.0) == COLOURS[4]
    assert colour_for(ex.mr_result(ex.mr_sources(slices=2, size=8)).scale, 0.0) == COLOURS[0]


def test_not_assessable_summary_only() -> None:
    src = ex.echo_source(frames=3)
    objs = build_output_objects(ex.not_assessable_result(src), [src], Settings())
    card = _reread(objs[1].dataset)
    _common(card, src)
    img = Image.fromarray(card.pixel_array)
    assert img.width == 640


def test_enhanced_mr_is_reformatted_and_undrawable_pixels_do_not_block_the_sr() -> None:
    from tests.support.dicom_files import enhanced_mr

    ds = enhanced_mr(frames=8, rows=16, columns=16)
    kinds = [o.kind for o in build_output_objects(ex.mr_result([ds]), [ds], Settings())]
    assert kinds == ["sr", "sc-mr", "sc-mr", "sc-mr", "sc-summary"]
    src = ex.echo_source(frames=2)
    del src.PixelData  # e.g. purged or undecodable pixels
    kinds = [o.kind for o in build_output_objects(ex.echo_result(src), [src], Settings())]
    assert kinds == ["sr", "sc-summary"]


def test_symbols_missing_from_the_font_are_spelled_out():
    from dicom_node.reports.render import _plain

    assert _plain("fewer than 90% of frames ≥ 3 — ok") == "fewer than 90% of frames >= 3 - ok"
