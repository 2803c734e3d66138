"""Hook context managers on small hand-weighted modules, where activations are exact."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from panda_viz.generators import hooks


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


class PairOut(nn.Module):
    """Returns a tuple, as StyleGAN2's synthesis blocks do."""

    def forward(self, x):
        return x + 1, x.sum()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = Scale(2.0)
        self.relu = nn.ReLU(inplace=True)
        self.pair = PairOut()
        self.b = Scale(3.0)

    def forward(self, x):
        x, _ = self.pair(self.relu(self.a(x)))
        return self.b(x)


def _no_hooks(module: nn.Module) -> bool:
    return all(not m._forward_hooks for m in module.modules())


def test_capture_clones_before_inplace_activation():
    net, x = Net(), torch.tensor([[-1.0, 2.0]])
    with hooks.capture(net, ["a", "relu", "pair"]) as got:
        net(x)
    assert torch.equal(got["a"], torch.tensor([[-2.0, 4.0]]))  # not clamped by the in-place ReLU
    assert torch.equal(got["relu"], torch.tensor([[0.0, 4.0]]))
    assert torch.equal(got["pair"], torch.tensor([[1.0, 5.0]]))  # first element of the tuple
    assert _no_hooks(net)


def test_replace_and_tuple_outputs():
    net, x = Net(), torch.tensor([[1.0, 2.0]])
    with hooks.replace(net, {"pair": lambda f: f * 0 + 10}):
        assert torch.equal(net(x), torch.full((1, 2), 30.0))
    assert torch.equal(net(x), torch.tensor([[9.0, 15.0]]))


def test_replace_rejects_wrong_shape():
    net = Net()
    with pytest.raises(ValueError, match=r"layer 'a' must return a tensor of shape \(1, 2\); got \(3,\)"):
        with hooks.replace(net, {"a": lambda f: torch.zeros(3)}):
            net(torch.ones(1, 2))
    assert _no_hooks(net)


def test_stop_after_ends_the_pass_and_capture_still_fires():
    net = Net()
    with hooks.capture(net, "relu") as got, hooks.stop_after(net, "relu"):
        with pytest.raises(hooks.StopForward):
            net(torch.ones(1, 2))
    assert torch.equal(got["relu"], torch.full((1, 2), 2.0))
    assert _no_hooks(net)


def test_hooks_removed_after_exception_in_forward():
    net = Net()

    def boom(_f):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with hooks.capture(net, ["a", "b"]), hooks.replace(net, {"relu": boom}), hooks.stop_after(net, "b"):
            net(torch.ones(1, 2))
    assert _no_hooks(net)


def test_unknown_module_name_lists_modules():
    with pytest.raises(ValueError, match=r"layer 'c' not found in Net; modules: a, relu, pair, b"):
        with hooks.capture(Net(), "c"):
            pass


def test_first_tensor_rejects_other_outputs():
    with pytest.raises(TypeError, match="got dict"):
        hooks.first_tensor({"x": 1})
