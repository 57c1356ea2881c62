"""Model packs (ARCHITECTURE.md §5): ``<dir>/manifest.json`` + ``<dir>/model.onnx``.

The manifest is a trust boundary (a site can drop packs into ``data_dir/packs``),
so it is validated with pydantic; a pack is verified at load (sha256, shapes).
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "PackError",
    "PackInput",
    "PackOutput",
    "Calibration",
    "Manifest",
    "Task",
    "file_sha256",
    "read_manifest",
    "verify_pack",
    "SHIPPED_PACKS_DIR",
]

SHIPPED_PACKS_DIR = Path(__file__).resolve().parent.parent / "packs"


class PackError(Exception):
    """A model pack is missing, malformed or does not match its manifest."""

    code = "pack_invalid"


class Task(StrEnum):
    ECHO_SEGMENTATION = "echo-segmentation"
    ECHO_REGIONAL_QUALITY = "echo-regional-quality"
    MR_PATCH_GRADE = "mr-patch-grade"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PackInput(_Strict):
    name: str = "input"
    shape: tuple[int | str, ...]  # e.g. ["N", 1, 256, 256]; strings are dynamic axes
    dtype: str = "float32"
    layout: str = "NCHW"
    value_range: tuple[float, float] = (0.0, 1.0)
    normalisation: str = "x/255"
    raster: tuple[int, int] | None = None
    preprocessing: str = "whole frame resized"  # or "cropped to sector"


class PackOutput(_Strict):
    name: str = "output"
    shape: tuple[int | str, ...]
    meaning: str
    region_order: tuple[str, ...] | None = None
    class_labels: tuple[str, ...] | None = None


class Calibration(_Strict):
    slope: float = 1.0
    intercept: float = 0.0


class Manifest(_Strict):
    name: str
    version: str
    task: Task
    input: PackInput
    output: PackOutput
    calibration: Calibration | None = None
    scale: dict[str, Any] | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    license: str = "Apache-2.0"
    demonstration_only: bool = True
    description: str = ""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(pack_dir: Path) -> Manifest:
    path = Path(pack_dir) / "manifest.json"
    try:
        return Manifest.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise PackError(f"pack {pack_dir}: manifest.json not found") from None
    except json.JSONDecodeError as exc:
        raise PackError(f"pack {pack_dir}: manifest.json is not JSON ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PackError(f"pack {pack_dir}: invalid manifest: {problems}") from None


def _shape_matches(declared: tuple[int | str, ...], actual: list[Any]) -> bool:
    if len(declared) != len(actual):
        return False
    for d, a in zip(declared, actual, strict=True):
        if isinstance(d, int) and isinstance(a, int) and d != a:
            return False
    return True


def verify_pack(pack_dir: Path) -> Manifest:
    """Check the model file's sha256 against the manifest; return the manifest.

    Shapes are checked when the session is built (:func:`models.runtime.session.load_pack`).
    """
    manifest = read_manifest(pack_dir)
    model = Path(pack_dir) / "model.onnx"
    if not model.is_file():
        raise PackError(f"pack {manifest.name}: model.onnx not found in {pack_dir}")
    digest = file_sha256(model)
    if digest != manifest.sha256:
        raise PackError(
            f"pack {manifest.name}: model.onnx sha256 {digest[:12]}… does not match the manifest "
            f"({manifest.sha256[:12]}…); the file is corrupt or was replaced — reinstall the pack"
        )
    return manifest


def check_shapes(manifest: Manifest, inputs: list[Any], outputs: list[Any]) -> None:
    """Compare ONNX Runtime's declared input/output shapes with the manifest."""
    if len(inputs) != 1:
        raise PackError(f"pack {manifest.name}: expected one model input, found {len(inputs)}")
    if not _shape_matches(manifest.input.shape, list(inputs[0].shape)):
        raise PackError(
            f"pack {manifest.name}: model input shape {inputs[0].shape} does not match manifest "
            f"{list(manifest.input.shape)}"
        )
    if not outputs or not _shape_matches(manifest.output.shape, list(outputs[0].shape)):
        got = outputs[0].shape if outputs else None
        raise PackError(
            f"pack {manifest.name}: model output shape {got} does not match manifest "
            f"{list(manifest.output.shape)}"
        )
