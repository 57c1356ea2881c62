"""Patch geometry, oblique resampling, octants, grade map, and train/analyze preprocessing parity."""

from __future__ import annotations

import numpy as np
import pytest
from test_mr_volume import classic_series

from analyzers.mr import (
    ORIENTATIONS,
    PatientGrid,
    assemble_volume,
    extract_patches,
    grade_map,
    octant_index,
    patch_centres,
    region_results,
    resample_isotropic,
    robust_range,
)
from analyzers.mr.sampling import OCTANT_SIGNS
from models.train.mr_data import centre_index, normalise_volume, volume_patches


def _field(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """A smooth patient-space test function (linear, so linear interpolation is exact)."""
    return 1000.0 + 3.0 * x - 2.0 * y + 5.0 * z


def _oblique(angle_deg: float = 30.0, n: int = 60, size: int = 48, spacing: float = 1.5):
    a = np.deg2rad(angle_deg)
    rc = np.array([np.cos(a), np.sin(a), 0.0])
    cc = np.array([0.0, 0.0, -1.0])  # oblique coronal-ish stack
    normal = np.cross(rc, cc)
    origin = np.array([-30.0, -20.0, 40.0])
    jj, ii = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    data = []
    for k in range(n):
        p = origin[:, None, None] + rc[:, None, None] * ii * spacing + cc[:, None, None] * jj * spacing
        p = p + normal[:, None, None] * k * spacing
        data.append(_field(p[0], p[1], p[2]))
    iop = tuple(rc) + tuple(cc)
    dss = classic_series(np.array(data), iop=iop, pixel_spacing=(spacing, spacing), slice_spacing=spacing,
                         origin=tuple(origin), slope=0.05, intercept=0.0)
    return assemble_volume(dss, min_slices=40, min_extent_mm=60)


def test_oblique_resampling_to_patient_axes() -> None:
    vol = _oblique()
    grid = PatientGrid.covering(vol)
    iso = resample_isotropic(vol, grid, lo=0.0, hi=4000.0)
    z, y, x = (grid.origin[[2, 1, 0]][:, None] + np.arange(max(grid.shape))[None, :])
    k, j, i = grid.shape[0] // 2, grid.shape[1] // 2, grid.shape[2] // 2
    # the centre of the grid is inside the oblique slab: value = the field at that LPS point / 4000
    p = grid.origin + np.array([i, j, k], dtype=float)
    assert iso[k, j, i] == pytest.approx(_field(*p) / 4000.0, abs=2e-3)
    assert iso.shape == grid.shape


def test_patches_follow_patient_axes() -> None:
    vol = _oblique()
    grid = PatientGrid.covering(vol)
    c = grid.snap(grid.centre)
    pats = extract_patches(vol, np.array([c, c, c]), list(ORIENTATIONS), lo=0.0, hi=4000.0, size=16)
    ax, sag, cor = pats[:, 0] * 4000.0
    # axial: rows → +y (posterior), columns → +x (left)
    assert ax[9, 8] - ax[8, 8] == pytest.approx(-2.0, abs=0.05)
    assert ax[8, 9] - ax[8, 8] == pytest.approx(3.0, abs=0.05)
    # sagittal: rows → −z (down), columns → +y;  coronal: rows → −z, columns → +x
    assert sag[9, 8] - sag[8, 8] == pytest.approx(-5.0, abs=0.05)
    assert sag[8, 9] - sag[8, 8] == pytest.approx(-2.0, abs=0.05)
    assert cor[9, 8] - cor[8, 8] == pytest.approx(-5.0, abs=0.05)
    assert cor[8, 9] - cor[8, 8] == pytest.approx(3.0, abs=0.05)


def test_patch_centres_inside_cube_and_cover_octants() -> None:
    offs = patch_centres(16)
    for o in ORIENTATIONS:
        assert offs[o].shape == (16, 3)
        assert np.all(np.abs(offs[o]) <= 40.0)
    allc = np.concatenate([offs[o] for o in ORIENTATIONS])
    assert np.bincount(octant_index(allc), minlength=8).min() >= 5


def test_octant_assignment() -> None:
    # LPS: right = −x, anterior = −y, superior = +z; order RAS, RAI, RPS, RPI, LAS, LAI, LPS, LPI
    pts = np.array([[-1, -1, 1], [-1, -1, -1], [-1, 1, 1], [-1, 1, -1], [1, -1, 1], [1, -1, -1], [1, 1, 1], [1, 1, -1]])
    assert list(octant_index(pts)) == list(range(8))
    assert np.array_equal(octant_index(OCTANT_SIGNS * 10), np.arange(8))


def test_regions_and_grade_map() -> None:
    offs = patch_centres(16)
    allc = np.concatenate([offs[o] for o in ORIENTATIONS])
    orients = [o for o in ORIENTATIONS for _ in range(16)]
    grades = np.where(allc[:, 0] < 0, 1.0, 3.0)  # right half poor, left half good
    regions = region_results(grades, allc, orients, float(grades.mean()))
    by_id = {r.id: r for r in regions}
    assert by_id["RAS"].score == pytest.approx(1.0) and by_id["LPI"].score == pytest.approx(3.0)
    assert [r.id for r in regions][-3:] == ["axial", "sagittal", "coronal"]
    gm = grade_map((41, 41, 41), np.array([-80.0, -80.0, -80.0]), allc, orients, grades, step=4.0)
    assert gm[20, 20, 2] < 1.5 and gm[20, 20, 38] > 2.5  # x index 2 = right side, 38 = left
    assert np.isnan(gm[0, 0, 0])  # the corner is more than 64 mm from every centre


def test_training_patches_match_analyzer_patches() -> None:
    rng = np.random.default_rng(3)
    vol3 = rng.random((70, 64, 80)).astype(np.float32) * 500
    dss = classic_series(vol3, origin=(-40.0, -31.5, -34.5), slope=0.01)
    series = assemble_volume(dss, min_slices=40, min_extent_mm=60)
    lo, hi = robust_range(series.data)
    grid = PatientGrid.covering(series)
    c = grid.snap(grid.centre)
    offsets = np.array([[0, 0, 0], [7, -12, 30], [-40, 40, -25]], dtype=float)
    orients = ["axial", "sagittal", "coronal"]
    got = extract_patches(series, c + offsets, orients, lo, hi)[:, 0]
    norm = normalise_volume(series.data)
    kji = centre_index(series.data.shape) + offsets[:, ::-1].astype(int)
    want = volume_patches(norm, kji, orients)
    np.testing.assert_allclose(got, want, atol=2e-3)
