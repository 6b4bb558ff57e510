"""Vectorized error function built on W. J. Cody's rational Chebyshev approximations.

Reference: W. J. Cody, "Rational Chebyshev approximations for the error function",
Math. Comp. 23 (1969), 631-638, as implemented in the netlib SPECFUN routine CALERF.
"""

from __future__ import annotations

import threading

from deepgrad.backend import xp
from deepgrad.ops._kernels import compiled

__all__ = ["erf"]

# Cody's break point between the direct erf fit and the erfc fits.
_THRESH = 0.46875
# Cody's break point between the two erfc fits.
_FOUR = 4.0
# From here on erf rounds to exactly 1.0 (erfc(5.95) < 2**-54, erfc(3.92) < 2**-25), so these
# elements skip the costly exp and inf saturates without special-casing.
_SATURATE = 5.95
_SATURATE_NARROW = 3.92  # for float32 and narrower results
_SQRPI = 5.6418958354775628695e-1  # 1 / sqrt(pi)

# erf(x) = x * A(x^2) / B(x^2) for |x| <= 0.46875; the last A entry is the leading coefficient.
_A = (
    3.16112374387056560e00,
    1.13864154151050156e02,
    3.77485237685302021e02,
    3.20937758913846947e03,
    1.85777706184603153e-1,
)
_B = (
    2.36012909523441209e01,
    2.44024637934444173e02,
    1.28261652607737228e03,
    2.84423683343917062e03,
)
# erfc(y) = exp(-y^2) * C(y) / D(y) for 0.46875 < y <= 4.
_C = (
    5.64188496988670089e-1,
    8.88314979438837594e00,
    6.61191906371416295e01,
    2.98635138197400131e02,
    8.81952221241769090e02,
    1.71204761263407058e03,
    2.05107837782607147e03,
    1.23033935479799725e03,
    2.15311535474403846e-8,
)
_D = (
    1.57449261107098347e01,
    1.17693950891312499e02,
    5.37181101862009858e02,
    1.62138957456669019e03,
    3.29079923573345963e03,
    4.36261909014324716e03,
    3.43936767414372164e03,
    1.23033935480374942e03,
)
# erfc(y) = exp(-y^2) / y * (1/sqrt(pi) - z * P(z) / Q(z)), z = 1/y^2, for y > 4.
_P = (
    3.05326634961232344e-1,
    3.60344899949804439e-1,
    1.25781726111229246e-1,
    1.60837851487422766e-2,
    6.58749161529837803e-4,
    1.63153871373020978e-2,
)
_Q = (
    2.56852019228982242e00,
    1.87295284992346047e00,
    5.27905102951428412e-1,
    6.05183413124413191e-2,
    2.33520497626869185e-3,
)

# Cody splits exp(-y^2) = exp(-t^2) * exp(-(y - t) * (y + t)) with t = trunc(16 y) / 16 so the
# rounding error of y*y is never amplified by exp. t^2 is exact and t takes only 16 * 6 values,
# so the first factor is tabulated once here instead of costing a second exp per element.
_EXP_NEG_T2 = xp.exp(-((xp.arange(16 * 6 + 1, dtype=xp.float64) / 16.0) ** 2))


def _stacked(num: tuple[float, ...], den: tuple[float, ...]) -> xp.ndarray:
    """Packs a CALERF coefficient pair as (step, [num, den], 1) columns for _horner."""
    lead = [(num[-1], 1.0)]
    steps = [(num[i], den[i]) for i in range(len(den))]
    return xp.array(lead + steps, dtype=xp.float64)[:, :, None]


_AB = _stacked(_A, _B)
_CD = _stacked(_C, _D)
_PQ = _stacked(_P, _Q)

# Work proceeds in blocks through per-thread scratch rows (about 2.4 MB per thread) because
# fresh full-size temporaries can cost more in page faults than the arithmetic itself. Rows:
# 0 |x|, 1 gathered x, 2-3 numerator/denominator, 4-6 branch temporaries, 7 float64 copy of a
# non-float64 input, 8 float64 result before narrowing.
_BLOCK = 32768
_ROWS = 9


class _Scratch(threading.local):
    """Per-thread scratch space, so concurrent calls never share buffers."""

    f: xp.ndarray | None = None
    i: xp.ndarray | None = None

    def get(self, n: int) -> tuple[xp.ndarray, xp.ndarray]:
        """Returns float64 rows and an index buffer holding at least ``n`` columns."""
        if self.f is None or self.f.shape[1] < n:
            # Grow geometrically so mixed sizes settle after a few calls.
            cols = min(_BLOCK, max(n, 2 * (0 if self.f is None else self.f.shape[1]), 64))
            self.f = xp.empty((_ROWS, cols), dtype=xp.float64)
            self.i = xp.empty(cols, dtype=xp.intp)
        return self.f, self.i


_SCRATCH = _Scratch()


def _horner(z: xp.ndarray, coef: xp.ndarray, nd: xp.ndarray) -> None:
    """Evaluates a CALERF numerator and denominator together into the two rows of ``nd``.

    Stacking both polynomials halves the number of numpy calls.

    Args:
        z: Float64 array (m,) holding the polynomial variable.
        coef: Output of ``_stacked``.
        nd: Float64 (2, m) output; row 0 gets the numerator, row 1 the denominator.
    """
    xp.multiply(coef[0], z, out=nd)
    for c in coef[1:-1]:
        xp.add(nd, c, out=nd)
        xp.multiply(nd, z, out=nd)
    xp.add(nd, coef[-1], out=nd)


def _erf_small(x: xp.ndarray, nd: xp.ndarray, z: xp.ndarray) -> None:
    """Writes erf(x) for |x| <= 0.46875 into ``nd[0]``; sign and -0.0 come from ``x`` itself."""
    # x*x and the final product may underflow for tiny x; the results (x * A0 / B0 rounded
    # into the subnormal range) are still the correctly signed best answers.
    with xp.errstate(under="ignore"):
        xp.multiply(x, x, out=z)
        _horner(z, _AB, nd)
        xp.divide(nd[0], nd[1], out=nd[0])
        xp.multiply(nd[0], x, out=nd[0])


def _erfc_far_factor(y: xp.ndarray) -> xp.ndarray:
    """Returns Cody's erfc(y) * exp(y^2) for y > 4 (rare in practice, so not buffer-tuned)."""
    z = 1.0 / (y * y)
    nd = xp.empty((2, y.size), dtype=xp.float64)
    _horner(z, _PQ, nd)
    r = nd[0] / nd[1]
    r *= z
    xp.subtract(_SQRPI, r, out=r)
    r /= y
    return r


def _erf_mid(
    x: xp.ndarray,
    nd: xp.ndarray,
    y: xp.ndarray,
    t: xp.ndarray,
    e: xp.ndarray,
    k: xp.ndarray,
    clamp: float | None,
) -> None:
    """Writes sign(x) * (1 - erfc(|x|)) into ``nd[0]`` for |x| > 0.46875.

    With ``clamp`` set, |x| is first limited to it (erf(clamp) already rounds to exactly 1.0),
    so saturated, infinite and nan elements may ride along; without it all |x| must be < 5.95.
    """
    xp.abs(x, out=y)
    if clamp is not None:
        xp.minimum(y, clamp, out=y)  # nan stays nan and propagates to the result
    # t = trunc(16 y) / 16 as in CALERF; 16 y is exact, so is t, and k indexes the table.
    xp.multiply(y, 16.0, out=t)
    xp.trunc(t, out=t)
    if clamp is not None:
        xp.fmin(t, 16 * 6, out=t)  # a nan index would be an invalid cast
    xp.copyto(k, t, casting="unsafe")
    xp.multiply(t, 1.0 / 16.0, out=t)
    # e = exp(-(y - t) * (y + t)) * exp(-t * t), with the sign folded into the first factor.
    xp.subtract(t, y, out=e)
    xp.add(y, t, out=t)
    xp.multiply(e, t, out=e)
    xp.exp(e, out=e)
    xp.multiply(e, _EXP_NEG_T2.take(k, out=t, mode="clip"), out=e)

    _horner(y, _CD, nd)
    r = nd[0]
    xp.divide(r, nd[1], out=r)
    if not y.max() <= _FOUR:  # also true when a nan is present
        far = xp.flatnonzero(y > _FOUR)
        r[far] = _erfc_far_factor(y.take(far))
    xp.multiply(r, e, out=r)  # r is now erfc(|x|)
    # CALERF writes 1 - erfc as (0.5 - erfc) + 0.5 to guard against machines without a guard
    # digit; in IEEE arithmetic the direct form rounds once and is never worse.
    xp.subtract(1.0, r, out=r)
    xp.copysign(r, x, out=r)


def _erf_block(
    x: xp.ndarray, res: xp.ndarray, s: xp.ndarray, k: xp.ndarray, saturate: float
) -> None:
    """Writes erf of the float64 block ``x`` into ``res`` using scratch rows 0-6 of ``s``.

    Elements with ``|x| >= saturate`` (at most 5.95) become exactly +-1.
    """
    n = x.size
    y = xp.abs(x, out=s[0, :n])
    below = y < saturate
    n_sat = n - int(xp.count_nonzero(below))  # includes nan
    # A few saturated elements (typical activations have none or a handful) are cheapest to
    # clamp and carry through the erfc path; many are cheaper to fill with +-1 up front.
    ride_along = n_sat * 16 <= n
    if not ride_along:
        xp.sign(x, out=res)  # +-1 for saturated elements (including inf); nan stays nan

    # Gather each range into contiguous scratch so it is evaluated only where needed; take with
    # mode="clip" writes straight into the scratch row instead of through a checked buffer.
    is_small = y <= _THRESH
    small = xp.flatnonzero(is_small)
    m = small.size
    if m:
        xs = x.take(small, out=s[1, :m], mode="clip")
        _erf_small(xs, s[2:4, :m], s[4, :m])
        res[small] = s[2, :m]
    if m == n:
        return

    is_mid = xp.logical_not(is_small, out=is_small)
    if not ride_along:
        is_mid &= below
    mid = xp.flatnonzero(is_mid)
    m = mid.size
    if m:
        xm = x.take(mid, out=s[1, :m], mode="clip")
        clamp = saturate if n_sat and ride_along else None
        _erf_mid(xm, s[2:4, :m], s[4, :m], s[5, :m], s[6, :m], k[:m], clamp)
        res[mid] = s[2, :m]


def _result_dtype(dtype: xp.dtype) -> xp.dtype:
    """Floating inputs keep their dtype; bool and integer inputs promote to float64."""
    if dtype.kind == "f":
        return dtype
    if dtype.kind in "biu":
        return xp.dtype(xp.float64)
    raise TypeError(f"erf expects a real floating or integer array, got dtype {dtype}")


def erf(x: xp.ndarray) -> xp.ndarray:
    """Error function, elementwise; accurate to float64 precision.

    Uses Cody's CALERF rational approximations on three ranges, each evaluated only on the
    elements that need it, or with the compiled loops (the ``fast`` extra) the C library's erf.
    Internals run in float64; the result has the input's dtype.

    Args:
        x: Real array of any shape, including 0-d. Integer and bool inputs give float64.

    Returns:
        ``erf(x)`` with the shape of ``x``. ``erf(+-0) = +-0``, ``erf(+-inf) = +-1`` and
        ``erf(nan) = nan``.

    Raises:
        TypeError: If ``x`` is complex or otherwise not real-valued.
    """
    x = xp.asarray(x)
    out_dtype = _result_dtype(x.dtype)
    flat = x.reshape(-1)
    out = xp.empty(flat.shape, dtype=out_dtype)
    fast = compiled()
    if fast is not None:  # one pass of the C library's erf, about 2x faster than the ranges
        # below; float32 results are the same, float64 ones may differ in the last bit
        fast.erf(flat, out)
        return out.reshape(x.shape)
    s, k = _SCRATCH.get(min(flat.size, _BLOCK))
    saturate = _SATURATE if out_dtype.itemsize >= 8 else _SATURATE_NARROW
    for start in range(0, flat.size, _BLOCK):
        stop = min(start + _BLOCK, flat.size)
        n = stop - start
        xb = flat[start:stop]
        if xb.dtype != xp.float64:
            xp.copyto(s[7, :n], xb)
            xb = s[7, :n]
        if out_dtype == xp.float64:
            _erf_block(xb, out[start:stop], s, k, saturate)
        else:
            _erf_block(xb, s[8, :n], s, k, saturate)
            # Narrowing tiny results (erf(x) ~ 1.13 x) may underflow; that rounding is intended.
            with xp.errstate(under="ignore"):
                out[start:stop] = s[8, :n]
    return out.reshape(x.shape)
