"""A small U-Net (Ronneberger et al., 2015) for LV / MYO / LA / AO segmentation of echo frames.

Four resolution levels with ``base``, 2·base, 4·base, 8·base channels, two 3x3 conv+BN+ReLU per
level, bilinear upsampling in the decoder. The network runs on a reduced input raster (e.g.
128²) and, with ``out_scale`` > 1, upsamples its logits bilinearly inside the graph so that the
exported model answers on the 256² region raster directly. Input is raw 0..255 grey.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNet", "SEG_CLASSES"]

#: Output classes in channel order (label value = index).
SEG_CLASSES: tuple[str, ...] = ("background", "LV", "MYO", "LA", "AO")


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net returning class logits (N, classes, H·out_scale, W·out_scale).

    Parameters
    ----------
    classes
        Number of output classes (5: background, LV, MYO, LA, AO).
    base
        Channels of the first level.
    in_channels
        Input channels (1: grey).
    out_scale
        Integer factor for the in-graph bilinear upsampling of the logits (1 = none).
    """

    def __init__(self, classes: int = 5, base: int = 8, in_channels: int = 1, out_scale: int = 1) -> None:
        super().__init__()
        c = [base, base * 2, base * 4, base * 8]
        self.out_scale = out_scale
        self.enc = nn.ModuleList(
            [_double_conv(in_channels, c[0]), _double_conv(c[0], c[1]), _double_conv(c[1], c[2])]
        )
        self.bottom = _double_conv(c[2], c[3])
        self.dec = nn.ModuleList(
            [_double_conv(c[3] + c[2], c[2]), _double_conv(c[2] + c[1], c[1]), _double_conv(c[1] + c[0], c[0])]
        )
        self.out = nn.Conv2d(c[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (N, C, H, W) raw grey 0..255, H and W divisible by 8."""
        x = (x - 127.5) / 64.0
        skips = []
        for enc in self.enc:
            x = enc(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for dec, skip in zip(self.dec, reversed(skips), strict=True):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = dec(torch.cat([x, skip], dim=1))
        x = self.out(x)
        if self.out_scale != 1:
            x = F.interpolate(x, scale_factor=float(self.out_scale), mode="bilinear", align_corners=False)
        return x
