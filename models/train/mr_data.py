"""Training patches for IQ-DCNN from the synthetic whole-heart phantom, and their on-disk cache.

The preprocessing repeats, for a 1 mm patient-axis volume, what ``analyzers.mr`` does to a series
(``models`` may not import ``analyzers``; ``tests/unit/test_mr_train.py`` checks both give the same
patches): robust percentile normalisation (1 → 0, 99.5 → 1, clipped to [0, 1.5]), patch centres
in a cube of half-edge 40 mm around the volume centre, 128×128 planes in the axial, sagittal and
coronal orientation with the same pixel order, background 0 outside the volume.

Run as a module to fill the cache in the background::

    python -m models.train.mr_data --out .cache/mr --start 0 --count 400
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "HALF_EDGE_MM",
    "ORIENTATIONS",
    "PATCH",
    "QUANT",
    "TRAIN_SEED_BASE",
    "PatchSet",
    "centre_index",
    "generator_fingerprint",
    "load_cache",
    "normalise_volume",
    "sample_patches",
    "volume_patches",
]

PATCH = 128
HALF_EDGE_MM = 40.0
ORIENTATIONS: tuple[str, ...] = ("axial", "sagittal", "coronal")
LOW_PCT, HIGH_PCT = 1.0, 99.5
#: cached patches are uint8: value·QUANT (normalised values are within [0, 1.5])
QUANT = 170.0
#: training volume ``m`` uses seed ``TRAIN_SEED_BASE + m`` (disjoint from the held-out seeds)
TRAIN_SEED_BASE = 100_000
#: field-of-view sizes cycled through for training volumes (voxels per side at 1 mm)
TRAIN_SIZES: tuple[int, ...] = (160, 128, 192)


def normalise_volume(vol: np.ndarray, max_samples: int = 1_000_000) -> np.ndarray:
    """Percentile normalisation of a whole volume (as ``analyzers.mr.robust_range`` + ``normalise``)."""
    flat = vol.reshape(-1)
    step = max(1, flat.size // max_samples)
    lo, hi = (float(v) for v in np.percentile(flat[::step], [LOW_PCT, HIGH_PCT]))
    if not hi > lo:
        raise ValueError("blank volume")
    y = (vol.astype(np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    return np.clip(y, 0.0, 1.5, out=y)


def centre_index(shape: tuple[int, ...]) -> np.ndarray:
    """Index ``(k, j, i)`` of the voxel nearest the volume centre (the analyzer's snapped centre)."""
    return np.round((np.asarray(shape[:3], dtype=float) - 1) / 2.0).astype(int)


def volume_patches(vol: np.ndarray, centres_kji: np.ndarray, orientations: list[str], size: int = PATCH) -> np.ndarray:
    """Axis-aligned ``size``² patches of a normalised ``vol[k, j, i]`` at integer centres; 0 outside.

    Pixel order as the analyzer: axial rows → +j, columns → +i; coronal rows → −k, columns → +i;
    sagittal rows → −k, columns → +j.
    """
    offs = np.arange(size) - size // 2
    nk, nj, ni = vol.shape
    out = np.zeros((len(centres_kji), size, size), dtype=np.float32)
    rows, cols = offs[:, None], offs[None, :]
    for n, ((k, j, i), o) in enumerate(zip(np.asarray(centres_kji), orientations, strict=True)):
        if o == "axial":
            kk, jj, ii = np.full((size, size), k), j + rows + 0 * cols, i + cols + 0 * rows
        elif o == "coronal":
            kk, jj, ii = k - rows + 0 * cols, np.full((size, size), j), i + cols + 0 * rows
        elif o == "sagittal":
            kk, jj, ii = k - rows + 0 * cols, j + cols + 0 * rows, np.full((size, size), i)
        else:
            raise ValueError(f"unknown orientation {o!r}")
        ok = (kk >= 0) & (kk < nk) & (jj >= 0) & (jj < nj) & (ii >= 0) & (ii < ni)
        out[n][ok] = vol[kk[ok], jj[ok], ii[ok]]
    return out


def sample_patches(
    vol: np.ndarray, rng: np.random.Generator, per_orientation: int, half_edge: float = HALF_EDGE_MM
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Random patches (uniform centres in the cube) of a normalised 1 mm volume.

    Returns ``(patches (3·n, 128, 128) float32, centres (3·n, 3) k/j/i, orientations)``.
    """
    c = centre_index(vol.shape)
    h = int(np.floor(half_edge))
    orients = [o for o in ORIENTATIONS for _ in range(per_orientation)]
    centres = c + rng.integers(-h, h + 1, size=(len(orients), 3))
    return volume_patches(vol, centres, orients), centres, orients


@dataclass
class PatchSet:
    """Cached training patches: uint8 ``patches`` (N, 128, 128), per-patch ``grades``,
    ``volume`` index per patch, and per-volume ``volume_grades`` and ``seeds``."""

    patches: np.ndarray
    grades: np.ndarray
    volume: np.ndarray
    orientation: np.ndarray
    volume_grades: np.ndarray
    seeds: np.ndarray
    generator_version: str

    @property
    def n_volumes(self) -> int:
        return len(self.seeds)


def make_patchset(seeds: list[int], per_orientation: int, sizes: tuple[int, ...] = TRAIN_SIZES) -> PatchSet:
    """Render the training volumes for ``seeds`` and cut their patches (quantised to uint8)."""
    from models.synthetic.mr import GENERATOR_VERSION, HELD_OUT_SEEDS, training_volume

    held = set(HELD_OUT_SEEDS)
    pats, grades, vols, orients, vgrades = [], [], [], [], []
    for m, seed in enumerate(seeds):
        if seed in held:
            raise ValueError(f"seed {seed} is reserved for held-out evaluation")
        rng = np.random.default_rng(seed)
        mv = training_volume(rng, size=sizes[seed % len(sizes)])
        norm = normalise_volume(mv.volume)
        p, _, o = sample_patches(norm, rng, per_orientation)
        pats.append(np.clip(np.round(p * QUANT), 0, 255).astype(np.uint8))
        grades.append(np.full(len(p), mv.grade, dtype=np.float32))
        vols.append(np.full(len(p), m, dtype=np.int32))
        orients.append(np.array([ORIENTATIONS.index(x) for x in o], dtype=np.int8))
        vgrades.append(mv.grade)
    return PatchSet(
        patches=np.concatenate(pats), grades=np.concatenate(grades), volume=np.concatenate(vols),
        orientation=np.concatenate(orients), volume_grades=np.asarray(vgrades, dtype=np.float32),
        seeds=np.asarray(seeds, dtype=np.int64), generator_version=GENERATOR_VERSION,
    )


def generator_fingerprint() -> str:
    """``GENERATOR_VERSION`` plus a hash of the phantom's image-forming sources: cached patches are
    keyed by it, so a generator edit that forgot to bump the version cannot feed stale data."""
    import hashlib

    import models.synthetic.mr as synth

    root = Path(synth.__file__).parent
    h = hashlib.sha256()
    for name in ("anatomy.py", "degrade.py", "geometry.py", "grade.py", "volume.py"):
        f = root / name
        if f.exists():
            h.update(f.read_bytes())
    return f"{synth.GENERATOR_VERSION}-{h.hexdigest()[:10]}"


def _save(ps: PatchSet, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, patches=ps.patches, grades=ps.grades, volume=ps.volume, orientation=ps.orientation,
             volume_grades=ps.volume_grades, seeds=ps.seeds, generator_version=np.array(ps.generator_version))
    tmp.replace(path)  # never a half-written chunk


def load_cache(cache_dir: Path, generator_version: str, max_volumes: int | None = None) -> PatchSet | None:
    """All complete cache chunks of the current generator (:func:`generator_fingerprint`) merged
    (volume indices renumbered)."""
    files = sorted(Path(cache_dir).glob(f"{generator_fingerprint()}/chunk_*.npz"))
    parts = []
    for f in files:
        with np.load(f) as z:
            parts.append({k: z[k] for k in z.files})
    if not parts:
        return None
    pats, grades, vols, orients, vgrades, seeds = [], [], [], [], [], []
    offset = 0
    for p in parts:
        pats.append(p["patches"])
        grades.append(p["grades"])
        vols.append(p["volume"] + offset)
        orients.append(p["orientation"])
        vgrades.append(p["volume_grades"])
        seeds.append(p["seeds"])
        offset += len(p["seeds"])
        if max_volumes is not None and offset >= max_volumes:
            break
    ps = PatchSet(np.concatenate(pats), np.concatenate(grades), np.concatenate(vols), np.concatenate(orients),
                  np.concatenate(vgrades), np.concatenate(seeds), generator_version)
    if max_volumes is not None and ps.n_volumes > max_volumes:
        keep = ps.volume < max_volumes
        ps = PatchSet(ps.patches[keep], ps.grades[keep], ps.volume[keep], ps.orientation[keep],
                      ps.volume_grades[:max_volumes], ps.seeds[:max_volumes], generator_version)
    return ps


def fill_cache(out: Path, start: int, count: int, chunk: int = 20, per_orientation: int = 16) -> None:
    """Write chunks of ``chunk`` volumes (seeds ``TRAIN_SEED_BASE + start …``) under ``out/<version>/``."""
    d = Path(out) / generator_fingerprint()
    d.mkdir(parents=True, exist_ok=True)
    for s in range(start, start + count, chunk):
        path = d / f"chunk_{s:06d}.npz"
        if path.exists():
            continue
        t = time.time()
        seeds = [TRAIN_SEED_BASE + m for m in range(s, min(s + chunk, start + count))]
        _save(make_patchset(seeds, per_orientation), path)
        print(f"{path.name}: {len(seeds)} volumes in {time.time() - t:.1f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(".cache/mr"))
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--chunk", type=int, default=20)
    ap.add_argument("--per-orientation", type=int, default=16)
    a = ap.parse_args()
    fill_cache(a.out, a.start, a.count, a.chunk, a.per_orientation)


if __name__ == "__main__":
    main()
