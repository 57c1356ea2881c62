"""Continue training from an exported pack: load ONNX weights back into the torch net.

The ONNX export folds each BatchNorm into the preceding convolution, so the convolutions are
restored in forward order with the folded weight and bias, and each BatchNorm is set to the
identity (mean 0, var 1 − eps, γ 1, β = folded bias, bias moved there). Fine-tuning then keeps the
BatchNorm layers in eval mode (:func:`freeze_bn`), which trains them as plain affine layers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["freeze_bn", "load_onnx_weights"]


def load_onnx_weights(model: nn.Module, onnx_path: Path) -> None:
    """Copy Conv/Gemm weights of ``onnx_path`` (same architecture) into ``model``."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(onnx_path))
    init = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    nodes = [n for n in proto.graph.node if n.op_type in ("Conv", "Gemm")]
    mods = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    if len(nodes) != len(mods):
        raise ValueError(f"architecture mismatch: {len(nodes)} ONNX layers vs {len(mods)} torch layers")
    bn_after = {}
    prev = None
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            prev = m
        elif isinstance(m, nn.BatchNorm2d) and prev is not None:
            bn_after[id(prev)] = m
            prev = None
    with torch.no_grad():
        for node, mod in zip(nodes, mods, strict=True):
            w = init[node.input[1]]
            b = init[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
            if node.op_type == "Gemm" and not any(a.name == "transB" and a.i == 1 for a in node.attribute):
                w = w.T
            if tuple(w.shape) != tuple(mod.weight.shape):
                raise ValueError(f"shape mismatch {w.shape} vs {tuple(mod.weight.shape)}")
            mod.weight.copy_(torch.from_numpy(np.array(w, dtype=np.float32)))
            bn = bn_after.get(id(mod))
            if bn is not None:
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.from_numpy(np.array(b, dtype=np.float32)))
            elif mod.bias is not None:
                mod.bias.copy_(torch.from_numpy(np.array(b, dtype=np.float32)))


def freeze_bn(model: nn.Module) -> None:
    """Put every BatchNorm in eval mode (use and keep the running statistics)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
