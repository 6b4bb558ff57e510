"""LazyConv1d/2d and LazyBatchNorm1d/2d: the channels come from the first input (or a state
dict), the layer then is the plain one (same numbers as one built with those channels), hooks
and mode survive, and inputs of the wrong rank are named."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn

CASES = {
    "LazyConv2d": (lambda: nn.LazyConv2d(4, 3, padding=1, groups=2),
                   lambda c: nn.Conv2d(c, 4, 3, padding=1, groups=2), (2, 6, 5, 5), nn.Conv2d),
    "LazyConv2d unbatched": (lambda: nn.LazyConv2d(4, 3), lambda c: nn.Conv2d(c, 4, 3),
                             (3, 5, 5), nn.Conv2d),
    "LazyConv1d": (lambda: nn.LazyConv1d(5, 2, stride=2), lambda c: nn.Conv1d(c, 5, 2, stride=2),
                   (2, 3, 8), nn.Conv1d),
    "LazyBatchNorm2d": (lambda: nn.LazyBatchNorm2d(momentum=0.2),
                        lambda c: nn.BatchNorm2d(c, momentum=0.2), (4, 3, 2, 2), nn.BatchNorm2d),
    "LazyBatchNorm1d": (lambda: nn.LazyBatchNorm1d(affine=False),
                        lambda c: nn.BatchNorm1d(c, affine=False), (4, 3), nn.BatchNorm1d),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_first_input_builds_the_plain_layer(name):
    make_lazy, make_plain, shape, plain_type = CASES[name]
    x = dg.randn(*shape, dtype=dg.float64)
    dg.manual_seed(0)
    lazy = make_lazy()
    assert list(lazy.parameters()) == [] and repr(lazy).startswith(f"{name.split()[0]}(0, ")
    calls = []
    lazy.register_forward_hook(lambda m, i, o: calls.append(o.shape))
    out = lazy(x)
    assert type(lazy) is plain_type and calls == [out.shape]
    dg.manual_seed(0)
    plain = make_plain(shape[0] if "unbatched" in name else shape[1]).to(dg.float64)
    assert repr(lazy) == repr(plain)
    for (k, a), (k2, b) in zip(lazy.state_dict().items(), plain.state_dict().items(),
                               strict=True):
        assert k == k2 and a.shape == b.shape
        if a.dtype.kind == "f":
            assert a.dtype == np.float64  # created in the input's dtype
    plain.load_state_dict(lazy.state_dict())
    lazy.eval()
    plain.eval()
    np.testing.assert_array_equal(lazy(x).numpy(), plain(x).numpy())


def test_a_state_dict_builds_lazy_layers_and_training_goes_on():
    def model():
        return nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(),
                             nn.LazyLinear(2))

    trained = model()
    trained(dg.randn(2, 1, 6, 6))
    fresh = model()
    fresh.load_state_dict(trained.state_dict())
    assert [type(m).__name__ for m in fresh] == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten",
                                                 "Linear"]
    optimizer = dg.optim.SGD(fresh.parameters(), lr=0.1)
    fresh(dg.randn(2, 1, 6, 6)).sum().backward()
    optimizer.step()
    with pytest.raises(ValueError, match=r"LazyConv2d: the state dict's 0.weight has shape \(4\)"):
        model().load_state_dict({"0.weight": np.zeros(4)}, strict=False)


def test_wrong_ranks_are_named():
    with pytest.raises(dg.ShapeError, match=r"LazyConv2d.*\(N, C, H, W\) or \(C, H, W\)"):
        nn.LazyConv2d(4, 3)(dg.ones(2, 3))
    with pytest.raises(dg.ShapeError, match=r"LazyBatchNorm1d.*\(N, C\) or \(N, C, L\)"):
        nn.LazyBatchNorm1d()(dg.ones(2, 3, 4, 5))
