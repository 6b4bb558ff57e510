"""one_hot: parity with torch (values, shapes, dtype), no gradient, errors."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.ops.one_hot import one_hot


@pytest.mark.parametrize(("indices", "num_classes"), [
    ([0, 2, 1, 2], -1),
    ([0, 2, 1, 2], 5),
    ([[3, 0], [1, 1]], -1),
    ([], 3),
    (2, 4),
    (np.arange(24).reshape(2, 3, 4) % 5, 6),
])
def test_matches_torch(torch, indices, num_classes):
    a = np.asarray(indices, dtype=np.int64)
    got = one_hot(dg.tensor(a), num_classes)
    want = torch.nn.functional.one_hot(torch.tensor(a), num_classes)
    assert got.dtype == dg.int64 and not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_other_integer_dtypes():
    got = one_hot(dg.tensor(np.array([1, 0], np.uint8)), 2)
    np.testing.assert_array_equal(got.numpy(), [[0, 1], [1, 0]])
    assert got.dtype == dg.int64


def test_errors():
    with pytest.raises(ValueError, match=r"^one_hot: class index 5 at \(1\) is out of range for "
                                         r"num_classes=3 \(expected 0 to 2\)"):
        one_hot(dg.tensor([1, 5]), 3)
    with pytest.raises(ValueError, match=r"^one_hot: class indices must be non-negative; got -1 "
                                         r"at \(0, 1\)"):
        one_hot(dg.tensor([[1, -1]]), 3)
    with pytest.raises(ValueError, match=r"^one_hot: cannot infer num_classes from an empty "
                                         r"tensor; give num_classes"):
        one_hot(dg.tensor(np.zeros(0, np.int64)))
    with pytest.raises(TypeError, match=r"^one_hot: expects an integer tensor of class indices; "
                                        r"got float32 \(convert it with \.long\(\)\)"):
        one_hot(dg.tensor([1.0]), 3)
    with pytest.raises(ValueError, match=r"^one_hot: num_classes must be -1 \(inferred\) or "
                                         r"non-negative; got -2"):
        one_hot(dg.tensor([1]), -2)
    with pytest.raises(TypeError, match=r"^one_hot: expects a Tensor of class indices; got list"):
        one_hot([1, 2], 3)
