"""ONNX Runtime sessions for model packs, built once per worker."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .pack import SHIPPED_PACKS_DIR, Manifest, PackError, check_shapes, verify_pack

__all__ = ["LoadedPack", "ModelSet", "available_providers", "discover_packs", "load_pack"]

log = logging.getLogger(__name__)


def available_providers(preference: str = "auto") -> list[str]:
    """Execution providers that really load here.

    onnxruntime-gpu lists CUDA even where its libraries are missing, so CUDA is
    only used when a probe session on a tiny graph actually gets it.
    """
    import onnxruntime as ort

    if preference == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers() and _cuda_really_loads():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if preference == "cuda":
        log.warning("providers=cuda requested but CUDA does not load here; using CPU")
    return ["CPUExecutionProvider"]


_CUDA_OK: bool | None = None


def _cuda_really_loads() -> bool:
    global _CUDA_OK  # cached probe: a process-wide fact about the machine
    if _CUDA_OK is None:
        try:
            import onnx
            import onnxruntime as ort
            from onnx import TensorProto, helper

            node = helper.make_node("Identity", ["x"], ["y"])
            graph = helper.make_graph(
                [node],
                "probe",
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            )
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
            sess = ort.InferenceSession(
                onnx.shape_inference.infer_shapes(model).SerializeToString(),
                providers=["CUDAExecutionProvider"],
            )
            _CUDA_OK = "CUDAExecutionProvider" in sess.get_providers()
        except Exception:  # noqa: BLE001 — any failure means "no CUDA here"
            _CUDA_OK = False
    return _CUDA_OK


@dataclass
class LoadedPack:
    """A verified pack with its ONNX Runtime session."""

    manifest: Manifest
    path: Path
    session: object
    input_name: str
    output_names: list[str]

    def run(self, x: np.ndarray, batch: int = 16) -> np.ndarray:
        """Run the first output over ``x`` in batches along axis 0."""
        outs = []
        for i in range(0, x.shape[0], batch):
            chunk = np.ascontiguousarray(x[i : i + batch], dtype=np.float32)
            outs.append(self.session.run(self.output_names[:1], {self.input_name: chunk})[0])  # type: ignore[attr-defined]
        if not outs:
            raise PackError(f"pack {self.manifest.name}: empty input")
        return np.concatenate(outs, axis=0)

    def calibrate(self, y: np.ndarray) -> np.ndarray:
        c = self.manifest.calibration
        return y if c is None else y * c.slope + c.intercept


def load_pack(pack_dir: Path, providers: list[str] | None = None, threads: int = 2) -> LoadedPack:
    import onnxruntime as ort

    manifest = verify_pack(pack_dir)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(
            str(Path(pack_dir) / "model.onnx"), opts, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as exc:  # noqa: BLE001 — onnxruntime raises its own exception types
        raise PackError(f"pack {manifest.name}: ONNX Runtime cannot load model.onnx: {exc}") from None
    check_shapes(manifest, sess.get_inputs(), sess.get_outputs())
    return LoadedPack(
        manifest=manifest,
        path=Path(pack_dir),
        session=sess,
        input_name=sess.get_inputs()[0].name,
        output_names=[o.name for o in sess.get_outputs()],
    )


def discover_packs(dirs: Iterable[Path]) -> dict[str, Path]:
    """Pack name → directory; later directories override earlier ones (site packs win)."""
    found: dict[str, Path] = {}
    for base in dirs:
        base = Path(base)
        if not base.is_dir():
            continue
        for manifest in sorted(base.glob("*/manifest.json")):
            found[manifest.parent.name] = manifest.parent
    return found


@dataclass
class ModelSet:
    """The packs a worker has loaded, by name, and those that failed with why."""

    packs: dict[str, LoadedPack] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        dirs: Iterable[Path] = (SHIPPED_PACKS_DIR,),
        names: Iterable[str] | None = None,
        providers: str = "auto",
        threads: int = 2,
    ) -> ModelSet:
        wanted = set(names) if names is not None else None
        prov = available_providers(providers)
        ms = cls()
        for name, path in discover_packs(dirs).items():
            if wanted is not None and name not in wanted:
                continue
            try:
                ms.packs[name] = load_pack(path, prov, threads)
            except PackError as exc:
                ms.errors[name] = str(exc)
                log.error("model pack disabled: %s", exc)
        for name in sorted((wanted or set()) - set(ms.packs) - set(ms.errors)):
            ms.errors[name] = f"pack {name} not found"
        return ms

    def get(self, name: str) -> LoadedPack:
        if name in self.packs:
            return self.packs[name]
        raise PackError(self.errors.get(name, f"pack {name} is not loaded"))

    def missing(self, names: Iterable[str]) -> dict[str, str]:
        """Of ``names``, those not loaded, with the reason."""
        return {n: self.errors.get(n, f"pack {n} not found") for n in names if n not in self.packs}
