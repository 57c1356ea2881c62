"""MobileNetV2 (Sandler et al., 2018), written by hand for the end-to-end regional quality net.

There is no CPU torchvision here, so the architecture is spelled out: a 3x3 stem, the inverted
residual blocks of the paper's Table 2 (expansion t, channels c, repeats n, stride s), a 1x1 head
conv, global average pooling and one linear layer with ``outputs`` regression outputs (eight echo
regions in arqee's order). Input is raw 0..255 grey; the scaling happens inside the graph so the
exported ONNX model takes the same raw values as arqee's published interface.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MobileNetV2", "make_divisible"]

# (expansion t, output channels c, repeats n, first stride s) — MobileNetV2 Table 2.
_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round channel counts to a multiple of ``divisor`` (as the reference implementation)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _conv_bn(cin: int, cout: int, k: int, stride: int, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expand (1x1) → depthwise (3x3) → project (1x1, linear), residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(_conv_bn(cin, hidden, 1, 1))
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, cout, 1, 1, act=False)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_res else y


class MobileNetV2(nn.Module):
    """MobileNetV2 regression network.

    Parameters
    ----------
    outputs
        Number of regression outputs (8 echo regions).
    width
        Width multiplier (1.0 = the paper's network).
    in_channels
        Input channels (1: grey).
    last_channels
        Channels of the final 1x1 conv before pooling (1280 in the paper; scaled by ``width``
        only when ``width > 1``, as the reference does).
    dropout
        Dropout before the linear layer.
    """

    def __init__(
        self,
        outputs: int = 8,
        width: float = 1.0,
        in_channels: int = 1,
        last_channels: int = 1280,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        cin = make_divisible(32 * width)
        last = make_divisible(last_channels * max(1.0, width))
        layers: list[nn.Module] = [_conv_bn(in_channels, cin, 3, 2)]
        for t, c, n, s in _SETTINGS:
            cout = make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers.append(_conv_bn(cin, last, 1, 1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, outputs))
        # Outputs start near the middle of the 1..5 scale.
        nn.init.zeros_(self.head[1].weight)
        nn.init.constant_(self.head[1].bias, 3.0)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (N, C, H, W) raw grey 0..255 → (N, outputs)."""
        x = (x - 127.5) / 64.0
        x = self.features(x)
        x = x.mean(dim=(2, 3))
        return self.head(x)
