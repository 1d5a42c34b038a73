import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from kgenrich.models.losses import focal_loss, inverse_frequency_weights, multitask_focal_loss

torch.set_num_threads(1)


def test_focal_loss_matches_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
    target = torch.tensor([0, 2])
    weight = torch.tensor([1.0, 2.0, 3.0])
    gamma = 2.0
    expected_num, expected_den = 0.0, 0.0
    for row, y in zip(logits.tolist(), target.tolist()):
        z = sum(math.exp(v) for v in row)
        p = math.exp(row[y]) / z
        expected_num += -weight[y].item() * (1 - p) ** gamma * math.log(p)
        expected_den += weight[y].item()
    got = focal_loss(logits, target, gamma, weight)
    assert got.item() == pytest.approx(expected_num / expected_den, rel=1e-6)


def test_gamma_zero_is_weighted_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 5, generator=gen)
    target = torch.randint(0, 5, (16,), generator=gen)
    weight = torch.rand(5, generator=gen) + 0.5
    assert focal_loss(logits, target, 0.0, weight).item() == pytest.approx(
        F.cross_entropy(logits, target, weight=weight).item(), rel=1e-6)


def test_focusing_down_weights_easy_examples():
    easy = torch.tensor([[5.0, 0.0]])
    y = torch.tensor([0])
    assert focal_loss(easy, y, 2.0) < 0.01 * focal_loss(easy, y, 0.0)


def test_masked_task_label_changes_nothing_in_the_gradient():
    torch.manual_seed(0)
    trunk = torch.nn.Linear(4, 8)
    heads = torch.nn.ModuleList([torch.nn.Linear(8, 3), torch.nn.Linear(8, 2)])
    x = torch.randn(6, 4)

    def grads(targets):
        trunk.zero_grad()
        heads.zero_grad()
        h = trunk(x)
        multitask_focal_loss([hd(h) for hd in heads], targets, 2.0).backward()
        return [p.grad.clone() for p in list(trunk.parameters()) + list(heads.parameters())]

    masked = torch.tensor([[0, -1], [1, 1], [2, 0], [0, -1], [1, 0], [2, 1]])
    # the same rows with the masked task labelled (either way): must differ from the masked gradient
    label0 = masked.clone()
    label0[masked == -1] = 0
    label1 = masked.clone()
    label1[masked == -1] = 1
    g_masked, g0, g1 = grads(masked), grads(label0), grads(label1)
    assert not all(torch.allclose(a, b) for a, b in zip(g0, g1))  # the label would matter if seen
    assert not all(torch.allclose(a, b) for a, b in zip(g_masked, g0))

    # masking row r of task 1 == computing task 1's loss on the other rows only
    def grads_subset():
        trunk.zero_grad()
        heads.zero_grad()
        h = trunk(x)
        keep = masked[:, 1] >= 0
        loss = focal_loss(heads[0](h), masked[:, 0], 2.0) + focal_loss(heads[1](h)[keep], masked[keep, 1], 2.0)
        loss.backward()
        return [p.grad.clone() for p in list(trunk.parameters()) + list(heads.parameters())]

    for a, b in zip(g_masked, grads_subset()):
        assert torch.allclose(a, b, atol=1e-7)


def test_all_masked_task_gives_zero_loss_with_graph():
    logits = torch.randn(3, 4, requires_grad=True)
    loss = focal_loss(logits, torch.tensor([-1, -1, -1]))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.count_nonzero(logits.grad) == 0


def test_inverse_frequency_weights():
    y = np.array([0, 0, 0, 1, -1, -1])  # -1: masked rows do not count
    w = inverse_frequency_weights(y, 3)
    assert w.tolist() == pytest.approx([4 / (2 * 3), 4 / (2 * 1), 1.0])
    # clipping protects against a singleton group in a large task
    w = inverse_frequency_weights(np.array([0] * 999 + [1]), 2, clip=20.0)
    assert w[1].item() == pytest.approx(20.0)
