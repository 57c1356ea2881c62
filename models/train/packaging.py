"""Writing a model pack (ARCHITECTURE.md §5): model.onnx + manifest.json with its sha256."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from models.runtime.pack import Manifest, file_sha256, verify_pack

__all__ = ["hardware_summary", "write_pack"]


def hardware_summary() -> str:
    import os

    return f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}, CPU"


def write_pack(out_dir: Path, onnx_path: Path, manifest: dict[str, Any]) -> Path:
    """Move ``onnx_path`` into ``out_dir/model.onnx``, write the manifest (sha256 filled in),
    validate it and verify the pack. Returns ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = out_dir / "model.onnx"
    if Path(onnx_path).resolve() != model.resolve():
        model.write_bytes(Path(onnx_path).read_bytes())
    data = dict(manifest, sha256=file_sha256(model))
    Manifest.model_validate(data)  # fail here, not at load time
    (out_dir / "manifest.json").write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    verify_pack(out_dir)
    return out_dir
