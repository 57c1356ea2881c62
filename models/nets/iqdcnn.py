"""IQ-DCNN (Piccini et al., Radiology: AI 2020): a patch-wise image-quality regressor.

Four convolution layers followed by three fully connected layers with dropout; the last layer
regresses one grade (0–4) per 128×128 patch. The paper's VGG-like layout is kept and made
narrower so that it trains and runs on a few CPU cores (the channel widths are a parameter).
The first layer's receptive field (``first_kernel``, the paper's hp1) and the dropout keep
probability (``keep_prob``, hp2) are hyper-parameters of the cross-validated grid.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PATCH", "IQDCNN", "anti_bias_l1"]

#: patch edge in pixels (1 mm pixels)
PATCH = 128


class IQDCNN(nn.Module):
    """4 conv + 3 FC regression network; input ``(N, 1, 128, 128)`` float32, output ``(N, 1)``.

    Parameters
    ----------
    first_kernel
        Receptive field of the first convolution (odd; hp1 of the paper).
    keep_prob
        Probability of keeping a unit in the dropout layers (hp2 of the paper).
    channels
        Widths of the four convolution layers.
    fc
        Widths of the two hidden fully connected layers (the third FC layer is the regressor).
    """

    def __init__(
        self,
        first_kernel: int = 5,
        keep_prob: float = 0.5,
        channels: tuple[int, int, int, int] = (8, 16, 32, 32),
        fc: tuple[int, int] = (128, 32),
    ) -> None:
        super().__init__()
        if first_kernel % 2 != 1:
            raise ValueError("first_kernel must be odd")
        c1, c2, c3, c4 = channels
        self.features = nn.Sequential(
            # stride 2 first: 128 → 64; blur is a multi-millimetre property, 2 mm sampling keeps it
            nn.Conv2d(1, c1, first_kernel, stride=2, padding=first_kernel // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 32
            nn.Conv2d(c2, c3, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 16
            nn.Conv2d(c3, c4, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 8
        )
        drop = 1.0 - keep_prob
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c4 * 8 * 8, fc[0]),
            nn.ReLU(inplace=True),
            nn.Dropout(drop),
            nn.Linear(fc[0], fc[1]),
            nn.ReLU(inplace=True),
            nn.Dropout(drop),
            nn.Linear(fc[1], 1),
        )
        # start near the middle of the scale so early steps are not spent on the offset
        nn.init.constant_(self.head[-1].bias, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Grades ``(N, 1)`` for patches ``(N, 1, 128, 128)``."""
        return self.head(self.features(x))


def anti_bias_l1(pred: torch.Tensor, target: torch.Tensor, step: float = 0.5) -> torch.Tensor:
    """Anti-bias L1 loss (Piccini et al., Eq 1).

    The mean absolute error is computed separately for each true grade bin ``S_j`` (grades in
    ``step`` steps) and the bin means are averaged over the bins present, so rare grades weigh
    as much as frequent ones and predictions are not pulled toward the most common grade.
    """
    pred = pred.reshape(-1)
    target = target.reshape(-1)
    bins = torch.round(target / step).long()
    bins = bins - bins.min()
    n_bins = int(bins.max().item()) + 1
    err = (pred - target).abs()
    sums = torch.zeros(n_bins, dtype=err.dtype, device=err.device).index_add(0, bins, err)
    counts = torch.zeros(n_bins, dtype=err.dtype, device=err.device).index_add(0, bins, torch.ones_like(err))
    present = counts > 0
    return (sums[present] / counts[present]).mean()
