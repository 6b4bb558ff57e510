"""``dg.testing.assert_close`` decides as ``torch.testing.assert_close`` does (default
tolerances per dtype, explicit ones, NaN, shape and dtype checks) and explains a mismatch."""

import numpy as np
import pytest

import deepgrad as dg

CASES = [
    ([1.0, 2.0], [1.0, 2.0 + 1e-6], "float32", {}),
    ([1.0, 2.0], [1.0, 2.1], "float32", {}),
    ([1.0, 2.0], [1.0, 2.0 + 1e-6], "float64", {}),
    ([1.0, 2.0], [1.0, 2.1], "float32", {"rtol": 0.1, "atol": 0.0}),
    ([1.0, np.nan], [1.0, np.nan], "float64", {}),
    ([1.0, np.nan], [1.0, np.nan], "float64", {"equal_nan": True}),
    ([np.inf, -np.inf], [np.inf, -np.inf], "float32", {}),
    ([1, 2], [1, 2], "int64", {}),
    ([1, 2], [1, 3], "int64", {}),
]


@pytest.mark.parametrize("actual, expected, dtype, options", CASES)
def test_decides_as_torch(torch, actual, expected, dtype, options):
    def verdict(lib):
        try:
            lib.testing.assert_close(lib.tensor(actual, dtype=getattr(lib, dtype)),
                                     lib.tensor(expected, dtype=getattr(lib, dtype)), **options)
        except AssertionError:
            return False
        return True

    assert verdict(dg) == verdict(torch)


def test_messages_say_what_differs():
    with pytest.raises(AssertionError, match=r"Mismatched elements: 1 / 2 \(50.0%\)\nGreatest "
                                             r"absolute difference: 0.0999.* at index \(1,\) "
                                             r"\(up to 1e-05 allowed\)"):
        dg.testing.assert_close(dg.tensor([1.0, 2.0]), dg.tensor([1.0, 2.1]))
    with pytest.raises(AssertionError, match="'shape' do not match: \\(2,\\) != \\(3,\\)"):
        dg.testing.assert_close(dg.ones(2), dg.ones(3))
    with pytest.raises(AssertionError, match="'dtype' do not match: float32 != float64"):
        dg.testing.assert_close(dg.ones(2), dg.ones(2, dtype=dg.float64))
    dg.testing.assert_close(dg.ones(2), np.ones(2), check_dtype=False)
    with pytest.raises(AssertionError, match=r"^custom$"):
        dg.testing.assert_close(dg.ones(2), dg.zeros(2), msg="custom")
    with pytest.raises(ValueError, match="both rtol and atol"):
        dg.testing.assert_close(dg.ones(2), dg.ones(2), rtol=1e-3)
