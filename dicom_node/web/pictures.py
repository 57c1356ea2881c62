"""Which picture shows an analysis, and its PNG/GIF bytes (cached by file and modification time).

Preference: the stored Secondary Capture outputs (coloured overlays: cine, MR reformats, summary
card); when there are none yet (analysis pending or failed), a frame of the source instance, so
the list never shows a hole.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.schema import Analysis, Instance, Output

from .images import ImageError, file_frames, file_middle_frame, thumbnail_png, to_gif, to_png

__all__ = ["Pictures"]

THUMB_ORDER = ("sc-cine", "sc-mr", "sc-summary")  # a picture of the heart first, the text card last
CINE_ORDER = ("sc-cine", "sc-mr")


class Pictures:
    """Renders pictures of analyses; ``resolve`` maps a stored relative path to a file."""

    def __init__(self, resolve: Callable[[str], Path], cache_size: int = 64) -> None:
        self._resolve = resolve
        self._cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._size = cache_size

    def _cached(self, key: tuple[Any, ...], make: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        data = make()
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return data

    def _path(self, rel: str) -> Path:
        path = self._resolve(rel)
        if not path.is_file():
            raise ImageError("the stored file is gone (purged by retention?)")
        return path

    @staticmethod
    def _outputs(a: Analysis, order: tuple[str, ...]) -> list[Output]:
        outs = [o for o in a.outputs if o.kind in order]
        return sorted(outs, key=lambda o: (order.index(o.kind), o.index))

    def _source(self, session: Session, a: Analysis) -> str | None:
        if a.instance_id is not None:
            inst = session.get(Instance, a.instance_id)
            return inst.file_path if inst is not None else None
        insts = list(
            session.scalars(
                select(Instance)
                .where(Instance.series_id == a.series_id, Instance.is_current.is_(True))
                .order_by(Instance.instance_number, Instance.id)
            )
        )
        return insts[len(insts) // 2].file_path if insts else None

    def sources(self, session: Session, a: Analysis, order: tuple[str, ...]) -> list[str]:
        """Relative file paths to draw from, best first."""
        rels = [o.file_path for o in self._outputs(a, order)]
        src = self._source(session, a)
        return rels + ([src] if src else [])

    def thumbnail(self, session: Session, a: Analysis, width: int = 240) -> bytes:
        """PNG thumbnail (middle frame of the best picture)."""
        last: Exception | None = None
        for rel in self.sources(session, a, THUMB_ORDER):
            try:
                path = self._path(rel)
                key = ("thumb", str(path), path.stat().st_mtime_ns, width)

                def make(path: Path = path) -> bytes:
                    return thumbnail_png(file_middle_frame(path), width)

                return self._cached(key, make)
            except ImageError as exc:
                last = exc
        raise ImageError(str(last) if last else "no picture for this analysis")

    def cine(self, session: Session, a: Analysis) -> bytes:
        """Animated GIF of the cine overlay (or of the source loop when there is none)."""
        rels = self.sources(session, a, ("sc-cine",))
        last: Exception | None = None
        for rel in rels:
            try:
                path = self._path(rel)
                key = ("cine", str(path), path.stat().st_mtime_ns)
                return self._cached(
                    key, lambda path=path: to_gif(file_frames(path, max_frames=200), width=640)
                )
            except ImageError as exc:
                last = exc
        raise ImageError(str(last) if last else "no cine for this analysis")

    def output_png(self, output: Output, frame: int | None = None) -> bytes:
        """One frame (default: the middle one) of an output object as PNG."""
        path = self._path(output.file_path)
        key = ("out", str(path), path.stat().st_mtime_ns, frame)

        def make() -> bytes:
            frames = file_frames(path)
            idx = len(frames) // 2 if frame is None else min(max(frame, 0), len(frames) - 1)
            return to_png(frames[idx])

        return self._cached(key, make)
