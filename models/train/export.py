"""ONNX export helper shared by the echo and MR trainers.

Exports a torch module in eval mode with a dynamic batch axis, then checks the ONNX graph and
that ONNX Runtime-free reference evaluation is not needed: the caller verifies with
:func:`models.runtime.load_pack` after writing the pack.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import nn

__all__ = ["export_onnx"]

log = logging.getLogger(__name__)


def export_onnx(
    model: nn.Module,
    example: torch.Tensor,
    path: Path,
    input_name: str = "input",
    output_name: str = "output",
    opset: int = 17,
) -> Path:
    """Export ``model`` to ``path`` with a dynamic batch axis named ``N``.

    Parameters
    ----------
    model
        The trained network (put in eval mode here; the caller's mode is restored).
    example
        One example input (batch of one is enough).
    path
        Destination ``.onnx`` file.
    input_name, output_name
        Graph input / output names.
    opset
        ONNX opset.
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: {0: "N"}, output_name: {0: "N"}},
                opset_version=opset,
                dynamo=False,
            )
    finally:
        model.train(was_training)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    return path
