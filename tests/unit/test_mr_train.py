"""IQ-DCNN: the anti-bias L1 loss, the metrics, and a tiny training run through export and runtime."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.nets.iqdcnn import IQDCNN, anti_bias_l1
from models.runtime import ModelSet
from models.train.mr_metrics import grade_metrics, linear_kappa, round_half


def test_anti_bias_l1_weighs_each_grade_bin_equally() -> None:
    # nine patches of grade 4 predicted perfectly, one of grade 0 off by 2
    target = torch.tensor([4.0] * 9 + [0.0])
    pred = torch.tensor([4.0] * 9 + [2.0])
    assert float(anti_bias_l1(pred, target)) == pytest.approx(1.0)  # (0 + 2) / 2 bins
    assert float((pred - target).abs().mean()) == pytest.approx(0.2)  # plain L1 hides the rare grade
    # within one bin it is the plain mean absolute error
    assert float(anti_bias_l1(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 1.5]))) == pytest.approx(0.5)


def test_anti_bias_l1_has_gradients() -> None:
    pred = torch.tensor([1.0, 3.0], requires_grad=True)
    anti_bias_l1(pred, torch.tensor([2.0, 2.0])).backward()
    assert pred.grad is not None and torch.all(pred.grad.abs() > 0)


def test_net_shape_four_conv_three_fc() -> None:
    net = IQDCNN(first_kernel=7, keep_prob=0.3)
    assert net(torch.zeros(2, 1, 128, 128)).shape == (2, 1)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    drops = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    assert (len(convs), len(fcs), len(drops)) == (4, 3, 2)
    assert convs[0].kernel_size == (7, 7) and drops[0].p == pytest.approx(0.7)


def test_metrics() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 2.5])
    m = grade_metrics(t, t)
    assert m["r2"] == 1.0 and m["kappa"] == 1.0 and m["mae"] == 0.0
    assert list(round_half(np.array([0.24, 0.26, 4.3, -1.0]))) == [0.0, 0.5, 4.0, 0.0]
    assert linear_kappa(np.array([0, 4, 0, 4.0]), np.array([4, 0, 4, 0.0])) < 0


def test_tiny_training_exports_a_pack_that_loads_and_runs(tmp_path) -> None:  # noqa: ANN001
    from models.train.mr import train_packs

    (pack,) = train_packs(tmp_path, preset="tiny", seed=1)
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["task"] == "mr-patch-grade" and manifest["demonstration_only"] is True
    assert manifest["training"]["generator_version"] and "heldout" in manifest["metrics"]
    ms = ModelSet.load(dirs=[tmp_path], providers="cpu", threads=1)
    assert not ms.errors
    out = ms.get("mr-iqdcnn").run(np.zeros((3, 1, 128, 128), np.float32), batch=2)
    assert out.shape == (3, 1) and np.all(np.isfinite(out))
