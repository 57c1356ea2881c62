"""Drawing of the Secondary Capture frames (Pillow/numpy): echo overlays, summary card, MR reformats.

Colours by integer grade, worst to best: #ED1B24 #F46523 #FFFB17 #8DC619 #176837 (arqee's scale
1..5; MR 0..4 uses the same five colours). Every frame carries its legend and the grade as burnt-in
text, so the SC objects declare Burned In Annotation YES (PS3.3 C.8.6.2).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

from analyzers.base.result import QualityResult, Scale

__all__ = [
    "COLOURS",
    "colour_for",
    "source_frames_rgb",
    "fit_width",
    "render_echo_frames",
    "render_summary",
    "render_mr_reformats",
]

COLOURS: tuple[tuple[int, int, int], ...] = (
    (0xED, 0x1B, 0x24), (0xF4, 0x65, 0x23), (0xFF, 0xFB, 0x17), (0x8D, 0xC6, 0x19), (0x17, 0x68, 0x37),
)
_BG = (16, 16, 16)
_FG = (235, 235, 235)
_GREY = (120, 120, 120)


# Pillow's bundled font has no glyph for these; reasons and names may contain them.
_PLAIN = str.maketrans({"≥": ">=", "≤": "<=", "—": "-", "–": "-", "·": "-", "×": "x", "…": "..."})


def _plain(text: str) -> str:
    return text.translate(_PLAIN)


@cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def colour_for(scale: Scale, score: float | None) -> tuple[int, int, int]:
    """Colour of a score: its position on the scale in five steps; grey when unknown."""
    if score is None or not math.isfinite(score):
        return _GREY
    step = round((score - scale.min) / (scale.max - scale.min) * 4)
    return COLOURS[min(max(step, 0), 4)]


def _to_uint8(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32)
    lo, hi = np.percentile(a, (0.5, 99.5)) if a.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    return (np.clip((a - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def source_frames_rgb(ds: Dataset) -> np.ndarray:
    """Decoded frames of ``ds`` as ``(F, H, W, 3)`` uint8 RGB (PS3.3 C.7.6.3 photometrics)."""
    from pydicom.pixels import apply_color_lut

    arr = ds.pixel_array  # pydicom converts YBR to RGB by default
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    pi = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if pi == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        spp = 3
    if frames == 1:
        arr = arr[np.newaxis]
    if spp == 1:
        gray = _to_uint8(arr)
        if pi == "MONOCHROME1":
            gray = 255 - gray
        return np.repeat(gray[..., np.newaxis], 3, axis=-1)
    return arr if arr.dtype == np.uint8 else _to_uint8(arr)


MIN_WIDTH = 384  # small sources are enlarged so that the legend stays legible


def fit_width(img: Image.Image, max_width: int) -> Image.Image:
    """Scale to ``MIN_WIDTH``..``max_width`` wide, aspect kept; even dimensions for 4:2:2 JPEG."""
    w, h = img.size
    target = min(max_width, max(w, MIN_WIDTH))
    if w != target:
        h = max(2, round(h * target / w))
        w = target
    w, h = w - w % 2, h - h % 2
    return img.resize((max(w, 2), max(h, 2)), Image.Resampling.BILINEAR) if (w, h) != img.size else img


def _frame_means(result: QualityResult) -> list[float | None]:
    count = result.frames.count if result.frames else 0
    means: list[float | None] = []
    for f in range(count):
        vals = [r.frame_scores[f] for r in result.regions if r.frame_scores and r.frame_scores[f] is not None]
        means.append(sum(vals) / len(vals) if vals else None)
    return means


def _grade_text(result: QualityResult) -> str:
    if not result.assessable or result.global_grade is None:
        return "NOT ASSESSABLE"
    g = result.global_grade
    return f"Global {g.score:.1f} ({g.label})"


def render_echo_frames(
    frames: np.ndarray,
    result: QualityResult,
    max_width: int,
    geometry: Mapping[str, np.ndarray] | None = None,
) -> list[Image.Image]:
    """One RGB image per source frame: the frame, region outlines (when ``geometry`` gives them),
    a legend with each region's score in that frame, the global grade and a frame-score strip."""
    count = frames.shape[0]
    first = fit_width(Image.fromarray(frames[0]), max_width)
    w, h = first.size
    sx, sy = w / frames.shape[2], h / frames.shape[1]
    font, small = _font(14), _font(12)
    rows = math.ceil(len(result.regions) / 2)
    panel = 26 + 18 * rows + 22
    means = _frame_means(result)
    ed, es = (set(result.frames.ed), set(result.frames.es)) if result.frames else (set(), set())
    out: list[Image.Image] = []
    for f in range(count):
        canvas = Image.new("RGB", (w, h + panel), _BG)
        img = first if f == 0 else fit_width(Image.fromarray(frames[f]), max_width)
        canvas.paste(img.resize((w, h)) if img.size != (w, h) else img, (0, 0))
        draw = ImageDraw.Draw(canvas)
        for r in result.regions:
            score = r.frame_scores[f] if r.frame_scores and f < len(r.frame_scores) else r.score
            poly = (geometry or {}).get(r.id)
            if poly is not None and len(poly) >= 3:
                pts = [(float(x) * sx, float(y) * sy) for x, y in np.asarray(poly).reshape(-1, 2)]
                draw.line(pts + pts[:1], fill=colour_for(result.scale, score), width=3)
        tag = " ED" if f + 1 in ed else (" ES" if f + 1 in es else "")
        head = f"Frame {f + 1}/{count}{tag}   {_grade_text(result)}"
        if result.decisions.rescan_recommended:
            head += "   RESCAN"
        draw.text((6, h + 4), _plain(head), fill=_FG, font=font)
        for i, r in enumerate(result.regions):
            score = r.frame_scores[f] if r.frame_scores and f < len(r.frame_scores) else r.score
            x, y = 6 + (i % 2) * (w // 2), h + 26 + (i // 2) * 18
            draw.rectangle((x, y + 2, x + 12, y + 14), fill=colour_for(result.scale, score))
            value = "-" if score is None else f"{score:.1f}"
            draw.text((x + 18, y), _plain(f"{r.name[:26]} {value}"), fill=_FG, font=small)
        y0 = h + panel - 16
        for i, m in enumerate(means):
            x0, x1 = round(i * w / max(count, 1)), round((i + 1) * w / max(count, 1))
            draw.rectangle((x0, y0, max(x0, x1 - 1), y0 + 12), fill=colour_for(result.scale, m))
        cx = round((f + 0.5) * w / max(count, 1))
        draw.rectangle((cx - 1, y0 - 3, cx + 1, y0 + 15), fill=_FG)
        out.append(canvas)
    return out


def render_summary(result: QualityResult, width: int) -> Image.Image:
    """The one-frame summary card: global grade, flags and a table of the regions."""
    font, big, small = _font(14), _font(20), _font(12)
    flags = [f"Rescan recommended: {'YES' if result.decisions.rescan_recommended else 'no'}"]
    if result.decisions.ef_suitable is not None:
        flags.append(f"EF suitable: {'yes' if result.decisions.ef_suitable else 'NO'}")
    if not result.assessable:
        flags.append(f"Reason: {result.reason}")
    # Wrapped, never cut: the reasons name the segments a sonographer has to re-image.
    chars = max(40, (width - 20) // 8)
    text_lines = [
        w for t in flags + [f"- {r}" for r in result.decisions.reasons]
        for w in textwrap.wrap(_plain(t), chars, subsequent_indent="  ")
    ]
    lines = 5 + len(result.regions) + len(text_lines)
    img = Image.new("RGB", (width - width % 2, 2 * ((40 + 20 * lines) // 2)), _BG)
    d = ImageDraw.Draw(img)
    d.text((10, 8), "Cardiac image quality - automatic QA, not verified", fill=_FG, font=font)
    sub = f"{result.modality}  {result.view or ''}  {result.analyzer} {result.analyzer_version}"
    d.text((10, 28), _plain(sub), fill=_GREY, font=small)
    score = result.global_grade.score if result.global_grade else None
    d.rectangle((10, 50, 34, 74), fill=colour_for(result.scale, score))
    d.text((44, 50), _grade_text(result), fill=_FG, font=big)
    y = 84
    for text in text_lines:
        d.text((10, y), text, fill=_FG, font=font)
        y += 20
    if result.regions:
        y += 6
        cols = (10, width * 45 // 100, width * 60 // 100, width * 75 // 100)
        for x, t in zip(cols, ("region", "score", "min", "strain"), strict=True):
            d.text((x, y), t, fill=_GREY, font=small)
        y += 18
        for r in result.regions:
            d.rectangle((cols[0], y + 3, cols[0] + 10, y + 13), fill=colour_for(result.scale, r.score))
            d.text((cols[0] + 16, y), _plain(r.name[:34]), fill=_FG, font=small)
            d.text((cols[1], y), f"{r.score:.2f} {r.label}", fill=_FG, font=small)
            d.text((cols[2], y), "-" if r.min is None else f"{r.min:.2f}", fill=_FG, font=small)
            strain = {True: "approved", False: "no", None: "-"}[r.approved_for_strain]
            d.text((cols[3], y), strain, fill=_FG, font=small)
            y += 20
    return img


# -- MR ----------------------------------------------------------------------------------------
def _fg(frame: Dataset, shared: Dataset, keyword: str) -> Dataset:
    """A functional group macro of one frame, else the shared one."""
    return (frame.get(keyword) or shared.get(keyword))[0]


def _planes(sources: Sequence[Dataset]) -> list[tuple[np.ndarray, np.ndarray, tuple[float, float], np.ndarray]]:
    """(position, orientation, pixel spacing, 2D pixels) per slice, for classic single-frame
    series and for Enhanced / Legacy Converted multi-frame objects (PS3.3 C.7.6.16)."""
    out = []
    for ds in sources:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        if "PerFrameFunctionalGroupsSequence" in ds:
            shared = ds.get("SharedFunctionalGroupsSequence", [Dataset()])[0]
            pixels = ds.pixel_array.reshape(frames, int(ds.Rows), int(ds.Columns))
            for i, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
                pos = np.array([float(v) for v in _fg(fg, shared, "PlanePositionSequence").ImagePositionPatient])
                iop = np.array(
                    [float(v) for v in _fg(fg, shared, "PlaneOrientationSequence").ImageOrientationPatient]
                )
                spacing = tuple(float(v) for v in _fg(fg, shared, "PixelMeasuresSequence").PixelSpacing)
                out.append((pos, iop, spacing, pixels[i]))
        else:
            pos = np.array([float(v) for v in ds.ImagePositionPatient])
            iop = np.array([float(v) for v in ds.ImageOrientationPatient])
            out.append((pos, iop, tuple(float(v) for v in ds.PixelSpacing), ds.pixel_array))
    return out


def _volume(sources: Sequence[Dataset]) -> tuple[np.ndarray, np.ndarray]:
    """Slices sorted along the normal (never by InstanceNumber) and the voxel->patient affine."""
    planes = _planes(sources)
    iop = planes[0][1]
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    planes.sort(key=lambda p: float(np.dot(normal, p[0])))
    vol = np.stack([p[3].astype(np.float32) for p in planes])
    pos = [p[0] for p in planes]
    dr, dc = planes[0][2]
    step = (pos[-1] - pos[0]) / (len(pos) - 1) if len(pos) > 1 else normal
    if not np.any(step):
        step = normal
    affine = np.eye(4)
    affine[:3, 0] = step  # slice index
    affine[:3, 1] = col * dr  # row index moves along the column direction
    affine[:3, 2] = row * dc  # column index moves along the row direction
    affine[:3, 3] = pos[0]
    return vol, affine


def render_mr_reformats(
    sources: Sequence[Dataset],
    result: QualityResult,
    max_width: int,
    grade_map: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[tuple[str, Image.Image]]:
    """Axial, sagittal and coronal planes through the volume centre (1 mm, patient axes, LPS),
    with the grade map blended in — an array on the voxel grid of the sorted series, or a function
    of patient LPS points ``(..., 3)`` mm (the MR analyzer's ``grade_at``) — else the octant grades."""
    from scipy.ndimage import map_coordinates

    vol, affine = _volume(sources)
    inv = np.linalg.inv(affine)
    corners = np.array([[i, j, k, 1] for i in (0, vol.shape[0] - 1) for j in (0, vol.shape[1] - 1)
                        for k in (0, vol.shape[2] - 1)], dtype=float) @ affine.T
    centre = corners[:, :3].mean(axis=0)
    half = int(min(max(np.ptp(corners[:, :3], axis=0).max() / 2, 16), 200))
    u = np.arange(-half, half, dtype=float)
    scores = {r.id: r.score for r in result.regions}
    # plane axes (right, down) in LPS: axial x/y, sagittal y/-z, coronal x/-z
    planes = {
        "axial": (np.array([1.0, 0, 0]), np.array([0, 1.0, 0])),
        "sagittal": (np.array([0, 1.0, 0]), np.array([0, 0, -1.0])),
        "coronal": (np.array([1.0, 0, 0]), np.array([0, 0, -1.0])),
    }
    out = []
    for name, (ax_r, ax_d) in planes.items():
        dd, rr = np.meshgrid(u, u, indexing="ij")
        pts = centre + rr[..., None] * ax_r + dd[..., None] * ax_d
        ijk = (np.concatenate([pts, np.ones(pts.shape[:2] + (1,))], axis=-1) @ inv.T)[..., :3]
        coords = np.moveaxis(ijk, -1, 0)
        gray = _to_uint8(map_coordinates(vol, coords, order=1, cval=float(vol.min())))
        rgb = np.repeat(gray[..., None], 3, axis=-1).astype(np.float32)
        if callable(grade_map):
            g = np.asarray(grade_map(pts), dtype=np.float32)
        elif grade_map is not None:
            g = map_coordinates(np.asarray(grade_map, dtype=np.float32), coords, order=0, cval=np.nan)
        else:
            rel = pts - centre
            g = np.full(rel.shape[:2], np.nan, dtype=np.float32)
            for oid, score in scores.items():
                if len(oid) == 3 and oid.isupper():
                    m = ((rel[..., 0] < 0) == (oid[0] == "R")) & ((rel[..., 1] < 0) == (oid[1] == "A"))
                    g[m & ((rel[..., 2] > 0) == (oid[2] == "S"))] = score
        colour = np.zeros_like(rgb)
        for step in range(5):
            lo = result.scale.min + (step - 0.5) * (result.scale.max - result.scale.min) / 4
            hi = lo + (result.scale.max - result.scale.min) / 4
            colour[(g >= lo) & (g < hi)] = COLOURS[step]
        inside = np.all((ijk >= -0.5) & (ijk <= np.array(vol.shape) - 0.5), axis=-1)
        known = (np.isfinite(g) & inside)[..., None]
        blended = np.where(known, 0.65 * rgb + 0.35 * colour, rgb).astype(np.uint8)
        img = fit_width(Image.fromarray(blended), max_width)
        canvas = Image.new("RGB", (img.width, img.height + 44), _BG)
        canvas.paste(img, (0, 0))
        d = ImageDraw.Draw(canvas)
        own = scores.get(name)
        own_text = "" if own is None else f"{name} {own:.1f} ({result.scale.label_for(own)})   "
        d.text((6, img.height + 4), _plain(f"{name.upper()} reformat   {own_text}"), fill=_FG, font=_font(13))
        d.text((6, img.height + 24), _grade_text(result), fill=colour_for(result.scale, result.global_grade.score
                                                                          if result.global_grade else None),
               font=_font(13))
        out.append((name, canvas))
    return out
