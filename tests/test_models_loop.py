"""The shared torch training loop: phases, accumulation, early stopping, checkpoints, Ctrl-C."""

from __future__ import annotations

import signal

import numpy as np
import pytest
import torch
from torch import nn

from kgenrich.models.torchutil import (
    FitOptions,
    MultiHead,
    Phase,
    TensorBatches,
    TrainingInterrupted,
    batch_order,
    class_weights,
    evaluate_loss,
    fit_multitask,
    inner_split,
)

torch.set_num_threads(1)
SIZES = [3, 2]


class Net(nn.Module):
    """A trunk and two heads, with dropout: the RNG state matters for an exact resumption."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
        self.head = MultiHead(16, SIZES, hidden=0, dropout=0.3)

    def forward(self, x):
        return self.head(self.trunk(x))


def data(n=96, seed=0, noise=False):
    g = np.random.default_rng(seed)
    X = g.normal(size=(n, 8)).astype(np.float32)
    Y = np.stack([(X[:, 0] > 0).astype(int) + (X[:, 1] > 1), (X[:, 2] > 0).astype(int)], axis=1)
    if noise:
        Y = np.stack([g.integers(0, 3, n), g.integers(0, 2, n)], axis=1)
    Y[::7, 1] = -1  # masked labels
    return torch.from_numpy(X), Y


def both_phases(net, lr=1e-2):
    head = [{"params": list(net.head.parameters()), "lr": lr}]
    return [Phase("heads", 2, head), Phase("all", 3, [{"params": list(net.trunk.parameters()), "lr": lr}] + head)]


def fresh(seed=0):
    torch.manual_seed(seed)
    return Net()


def test_heads_phase_leaves_the_trunk_alone_and_everything_trainable_after():
    X, Y = data()
    net = fresh()
    trunk0 = net.trunk[0].weight.detach().clone()
    head0 = net.head.heads[0].weight.detach().clone()
    head = [{"params": list(net.head.parameters()), "lr": 1e-2}]
    state = fit_multitask(net, lambda idx: (X[idx],), Y, SIZES, [Phase("heads", 2, head)], FitOptions(batch_size=16))
    assert torch.equal(net.trunk[0].weight, trunk0) and not torch.equal(net.head.heads[0].weight, head0)
    assert all(p.requires_grad for p in net.parameters())
    assert len(state.history) == 2
    state = fit_multitask(net, lambda idx: (X[idx],), Y, SIZES, both_phases(net)[1:], FitOptions(batch_size=16))
    assert not torch.equal(net.trunk[0].weight, trunk0)


def test_gradient_accumulation_steps_once_per_group_of_batches(monkeypatch):
    X, Y = data(96)
    steps = []
    original = torch.optim.AdamW.step

    def counting(self, *args, **kwargs):
        steps.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", counting)
    for accumulate, expected in ((1, 6), (2, 3), (4, 2)):  # 96 rows / 16 = 6 batches; the last group may be short
        steps.clear()
        net = fresh()
        fit_multitask(net, lambda idx: (X[idx],), Y, SIZES, [Phase("all", 1, [{"params": list(net.parameters())}])],
                      FitOptions(batch_size=16, accumulate=accumulate))
        assert len(steps) == expected, (accumulate, len(steps))


def test_early_stopping_restores_the_best_epoch():
    X, Y = data(200, noise=True)  # labels are noise: the validation loss soon rises
    net = fresh()
    opts = FitOptions(batch_size=16, lr=3e-2, val_share=0.25, patience=2)
    phases = [Phase("all", 40, [{"params": list(net.parameters())}])]
    state = fit_multitask(net, lambda idx: (X[idx],), Y, SIZES, phases, opts)
    assert state.stopped_early and len(state.history) < 40
    assert len(state.val_history) == len(state.history)
    assert state.best == min(state.val_history) and state.val_history[state.best_epoch] == state.best
    # the network left behind is the best epoch's, not the last one's
    _, val = inner_split(len(Y), 0.25, opts.seed)
    assert len(val) == 50
    again = evaluate_loss(net, TensorBatches(lambda idx: (X[idx],)), val, torch.as_tensor(Y),
                          class_weights(Y, SIZES, "cpu"), opts)
    assert again == pytest.approx(state.best, abs=1e-6) and state.best < state.val_history[-1]


def test_inner_split_keeps_groups_together_and_skips_tiny_sets():
    groups = np.repeat(np.arange(50), 2)  # two images per artifact
    train, val = inner_split(100, 0.2, 0, groups)
    assert len(val) == 20 and not set(groups[train]) & set(groups[val])
    assert len(inner_split(30, 0.2, 0)[1]) == 0  # 6 rows would only follow noise: no early stopping


def test_a_shuffled_epoch_order_depends_on_seed_and_epoch_only():
    rows = np.arange(50)
    a = batch_order(rows, 16, shuffle=True, seed=3, epoch=2)
    assert [len(b) for b in a] == [16, 16, 16, 2]
    assert all(np.array_equal(x, y) for x, y in zip(a, batch_order(rows, 16, shuffle=True, seed=3, epoch=2)))
    assert not np.array_equal(np.concatenate(a), np.concatenate(batch_order(rows, 16, shuffle=True, seed=3, epoch=3)))
    assert sorted(np.concatenate(a)) == list(rows)


def test_ctrl_c_stops_at_the_next_batch_and_the_checkpoint_resumes_exactly(tmp_path):
    X, Y = data(96)
    # uninterrupted reference
    ref = fresh()
    torch.manual_seed(1)
    fit_multitask(ref, lambda idx: (X[idx],), Y, SIZES, both_phases(ref), FitOptions(batch_size=16, seed=1))

    calls = {"n": 0}

    def ctrl_c_in_the_third_epoch(idx):
        calls["n"] += 1
        if calls["n"] == 2 * 6 + 3:  # 6 batches an epoch: the third batch of epoch 3 (the first of phase "all")
            signal.raise_signal(signal.SIGINT)
        return (X[idx],)

    ckpt = tmp_path / "fit.pt"
    net = fresh()
    torch.manual_seed(1)
    # as in a terminal (a test run in the background of a script may have Ctrl-C ignored)
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(TrainingInterrupted):
            fit_multitask(net, ctrl_c_in_the_third_epoch, Y, SIZES, both_phases(net),
                          FitOptions(batch_size=16, seed=1, checkpoint=ckpt, checkpoint_seconds=0))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
    finally:
        signal.signal(signal.SIGINT, outer)
    assert calls["n"] == 2 * 6 + 3  # stopped right after the batch during which Ctrl-C came
    saved = torch.load(ckpt, weights_only=True)
    assert saved["state"]["phase"] == 1 and saved["state"]["epoch"] == 0  # phase "heads" done, nothing of "all"

    # a new process would start from a freshly built network and other RNG states
    resumed = fresh(seed=99)
    torch.manual_seed(12345)
    state = fit_multitask(resumed, lambda idx: (X[idx],), Y, SIZES, both_phases(resumed),
                          FitOptions(batch_size=16, seed=1, checkpoint=ckpt, checkpoint_seconds=0))
    assert len(state.history) == 5
    for (name, a), b in zip(ref.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
