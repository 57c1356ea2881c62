"""Model packs: manifest, verification and ONNX Runtime sessions (the only onnxruntime user)."""

from .pack import (
    SHIPPED_PACKS_DIR,
    Calibration,
    Manifest,
    PackError,
    PackInput,
    PackOutput,
    Task,
    file_sha256,
    read_manifest,
    verify_pack,
)
from .session import LoadedPack, ModelSet, available_providers, discover_packs, load_pack

__all__ = [
    "SHIPPED_PACKS_DIR",
    "Calibration",
    "LoadedPack",
    "Manifest",
    "ModelSet",
    "PackError",
    "PackInput",
    "PackOutput",
    "Task",
    "available_providers",
    "discover_packs",
    "file_sha256",
    "load_pack",
    "read_manifest",
    "verify_pack",
]
