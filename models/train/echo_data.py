"""Training cache for the echo models: shards of generator samples on disk.

The synthetic generator (``models.synthetic.echo.training_sample``) makes ~20 frames/s; the
networks train faster than that, so a background process fills ``<cache>/shard-XXXXX.npz`` files
(atomic rename: a reader never sees half a shard) and the trainer reloads whatever shards exist
at each epoch. Each shard holds ``shard_size`` samples drawn from the stream ``(seed, shard)``:

- ``image``: uint8 (n, r, r) — the whole frame resized to the 256 raster, then 2×2 mean-pooled
  to the training raster ``r`` (the analyzer does the same at inference);
- ``labels``: uint8 (n, r, r) — 0 bg, 1 LV, 2 MYO, 3 LA, 4 AO;
- ``grades``: float32 (n, 8) — continuous region grades 1..5 in ECHO_REGION_IDS order;
- ``view``: uint8 (n,) — index into :data:`VIEWS` (255 unknown).

Run as ``python -m models.train.echo_data --out DIR --seed S --first A --count B``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

__all__ = [
    "VIEWS", "area_resize", "downsample_image", "downsample_labels", "fill_cache", "load_shards",
    "make_loop_shard", "make_shard",
]

VIEWS: tuple[str, ...] = ("A4C", "A2C", "ALAX")


def downsample_image(img: np.ndarray, factor: int) -> np.ndarray:
    """Mean-pool a (…, H, W) image by an integer ``factor`` (float32 out)."""
    if factor == 1:
        return img.astype(np.float32)
    h, w = img.shape[-2] // factor, img.shape[-1] // factor
    x = img[..., : h * factor, : w * factor].astype(np.float32)
    return x.reshape(*img.shape[:-2], h, factor, w, factor).mean(axis=(-3, -1))


def downsample_labels(lab: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour label downsampling (centre-ish sample of each block)."""
    if factor == 1:
        return lab
    off = factor // 2
    return lab[..., off::factor, off::factor]


def make_shard(seed: int, shard: int, shard_size: int, raster: int = 128) -> dict[str, np.ndarray]:
    """Draw ``shard_size`` generator samples from the stream ``(seed, shard)``."""
    from models.synthetic.echo import training_sample

    rng = np.random.default_rng([seed, shard])
    factor = 256 // raster
    imgs, labs, grades, views = [], [], [], []
    for _ in range(shard_size):
        s = training_sample(rng, size=256)
        imgs.append(np.clip(downsample_image(np.asarray(s.image), factor) + 0.5, 0, 255).astype(np.uint8))
        labs.append(downsample_labels(np.asarray(s.labels, dtype=np.uint8), factor))
        grades.append(np.asarray(s.grades, dtype=np.float32))
        views.append(VIEWS.index(s.view) if s.view in VIEWS else 255)
    return {
        "image": np.stack(imgs),
        "labels": np.stack(labs),
        "grades": np.stack(grades),
        "view": np.asarray(views, dtype=np.uint8),
    }


def area_resize(frames: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Area-average resize of (F, H, W) frames — the same weights as the analyzer's
    ``analyzers.echo.sector.resize_area`` (models may not import analyzers; a test checks both
    agree), so the networks see loops exactly as the analyzer prepares them."""
    def matrix(n_in: int, n_out: int) -> np.ndarray:
        edges = np.linspace(0, n_in, n_out + 1)
        px = np.arange(n_in)[None, :]
        w = np.clip(np.minimum(edges[1:, None], px + 1) - np.maximum(edges[:-1, None], px), 0, None)
        if n_out > n_in:
            w = (w > 0).astype(np.float64)
        return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)

    ry, rx = matrix(frames.shape[-2], out_h), matrix(frames.shape[-1], out_w)
    return np.einsum("oh,fhw,pw->fop", ry, frames.astype(np.float32), rx, optimize=True)


def make_loop_shard(seed: int, shard: int, loops: int = 4, frames: int = 8, raster: int = 128) -> dict[str, np.ndarray]:
    """Frames of scanner-sized loops (``make_loop``), resized whole as the analyzer does."""
    from models.synthetic.echo.loop import make_loop

    rng = np.random.default_rng([seed, shard])
    factor = 256 // raster
    imgs, labs, grades, views = [], [], [], []
    for _ in range(loops):
        h, w = ((600, 800), (480, 640), (708, 1016))[int(rng.integers(3))]
        loop = make_loop(rng, frames=frames, height=h, width=w)
        f256 = area_resize(loop.frames, 256, 256)
        imgs.append(np.clip(downsample_image(f256, factor) + 0.5, 0, 255).astype(np.uint8))
        lab = np.stack([t.labels for t in loop.truth])
        rows = ((np.arange(raster) + 0.5) * h / raster).astype(int)[:, None]
        cols = ((np.arange(raster) + 0.5) * w / raster).astype(int)[None, :]
        labs.append(lab[:, rows, cols])
        grades.append(loop.grades.astype(np.float32))
        views.append(np.full(frames, VIEWS.index(loop.view), np.uint8))
    return {"image": np.concatenate(imgs), "labels": np.concatenate(labs),
            "grades": np.concatenate(grades), "view": np.concatenate(views)}


def fill_cache(out: Path, seed: int, first: int, count: int, shard_size: int = 128, raster: int = 128,
               loops: bool = False) -> None:
    """Write shards ``first .. first+count-1`` that do not exist yet (resumable); ``loops``:
    frames of scanner-sized loops (4 loops × 8 frames per shard) instead of single frames."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for shard in range(first, first + count):
        path = out / f"shard-{seed}-{shard:05d}.npz"
        if path.exists():
            continue
        t0 = time.time()
        data = make_loop_shard(seed, shard, raster=raster) if loops else make_shard(seed, shard, shard_size, raster)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **data)
        os.replace(tmp, path)
        print(f"{path.name}: {len(data['image'])} samples in {time.time() - t0:.1f}s", flush=True)


def load_shards(cache: Path, pattern: str = "shard-*.npz", limit: int | None = None) -> dict[str, np.ndarray]:
    """Concatenate every complete shard under ``cache`` matching ``pattern``."""
    files = sorted(p for p in Path(cache).glob(pattern) if not p.name.endswith(".tmp.npz"))
    if limit is not None:
        files = files[:limit]
    if not files:
        raise FileNotFoundError(f"no training shards in {cache}")
    parts = [dict(np.load(p)) for p in files]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--shard-size", type=int, default=128)
    ap.add_argument("--raster", type=int, default=128)
    ap.add_argument("--loops", action="store_true", help="frames of scanner-sized loops")
    a = ap.parse_args()
    fill_cache(a.out, a.seed, a.first, a.count, a.shard_size, a.raster, a.loops)


if __name__ == "__main__":
    _main()
