"""The engine of the fused recurrent ops of :mod:`deepgrad.ops.recurrent`: one forward run of an
RNN, LSTM or GRU over a sequence (or one step of a cell), holding what its backward reads.

Written from primitives, a 64-step LSTM is a thousand small graph nodes whose backward runs as
many tiny kernels. Fused, the forward of one layer and direction is one GEMM (per gate) for the
input projection of every step, then per step the recurrent projection (one small GEMM per gate)
and a few in-place ufuncs on preallocated arrays; the backward runs per step only the GEMMs for
dh and the gate derivatives, and each weight gradient is one GEMM (per gate) over all steps at
the end.

The math is PyTorch's: gates stacked in the rows of the weights, LSTM (i, f, g, o), GRU (r, z,
n) with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). Two ways in which it is computed:

* sigmoid(v) = (1 + tanh(v / 2)) / 2. The forward uses copies of the weights whose sigmoid-gate
  rows are halved (exact in binary floating point), so that one ``tanh`` call covers every gate
  of a step and two cheap passes turn the sigmoid gates' values into sigmoids.
* Variable lengths: the batch is sorted by decreasing length (the modules sort it), so the
  sequences running at step t are the first n_t rows and every step works on a prefix of rows,
  as PyTorch's packed sequences do. States live in a (T + 1, N, H) array whose extra slot holds
  the initial state (slot 0 going forward, slot T going backward in time); a reversed sequence
  starts at its own last element from the initial state.
"""

from __future__ import annotations

from typing import Any

from deepgrad.backend import xp
from deepgrad.parallel import matmul

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
# The gates of a step are stored gate-major, (gates, N, H), so that every gate is one contiguous
# block for the ufuncs and the recurrent projection is one small GEMM per gate (on this kind of
# CPU, four (64, 256) @ (256, 256) GEMMs run faster than one (64, 256) @ (256, 1024)). Per mode:
# the PyTorch row block of each stored gate (sigmoid gates first, so that they are one block),
# how many are sigmoids, and for each PyTorch row block of W_ih and of W_hh the index of its
# gradient among the stored gate gradients. The GRU's gradients are (r, z, n hidden side,
# n input side).
_FORWARD_BLOCKS = {"rnn_tanh": [0], "rnn_relu": [0], "lstm": [0, 1, 3, 2], "gru": [0, 1, 2]}
_SIGMOIDS = {"rnn_tanh": 0, "rnn_relu": 0, "lstm": 3, "gru": 2}
_INPUT_GRADS = {"rnn_tanh": [0], "rnn_relu": [0], "lstm": [0, 1, 3, 2], "gru": [0, 1, 3]}
_HIDDEN_GRADS = {"rnn_tanh": [0], "rnn_relu": [0], "lstm": [0, 1, 3, 2], "gru": [0, 1, 2]}


def _plan(steps: int, batch: int, lengths: Any, reverse: bool) -> list[tuple]:
    """(t, active rows n, state slot read, state slot written, rows starting fresh) per step,
    in the order the forward runs them."""
    counts = [batch] * steps if lengths is None else \
        (lengths[None, :] > xp.arange(steps)[:, None]).sum(axis=1).tolist()
    plan = []
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        n = counts[t]
        if n == 0:
            continue
        fresh = None
        # Going backward in time, sequences shorter than T start at their own last element:
        # their rows read the initial state, copied into the slot they read from.
        if reverse and lengths is not None and t < steps - 1 and n > counts[t + 1]:
            fresh = slice(counts[t + 1], n)
        plan.append((t, n, t + 1 if reverse else t, t if reverse else t + 1, fresh))
    return plan


class _Sequence:
    """One forward run over a sequence, holding what its backward reads."""

    def __init__(self, mode: str, x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b_ih: Any,
                 b_hh: Any, lengths: Any, reverse: bool, keep: bool) -> None:
        steps, batch, features = x.shape
        gates, hidden, dtype = GATES[mode], w_hh.shape[1], x.dtype
        self.mode, self.lengths, self.reverse = mode, lengths, reverse
        self.h0, self.c0, self.keep = h0, c0, keep
        self.plan = _plan(steps, batch, lengths, reverse)
        self.x2 = x.reshape(steps * batch, features)
        # Forward weights per stored gate, transposed, sigmoid gates halved (module docstring).
        order, sigmoids = _FORWARD_BLOCKS[mode], _SIGMOIDS[mode]
        scale = xp.ones((gates, 1, 1), dtype=dtype)
        scale[:sigmoids] = 0.5
        w_in = w_ih.reshape(gates, hidden, features)[order].transpose(0, 2, 1) * scale
        self.w_rec = xp.ascontiguousarray(
            (w_hh.reshape(gates, hidden, hidden)[order] * scale).transpose(0, 2, 1))
        acts = matmul(self.x2, w_in)  # (gates, T * N, H): one GEMM per gate for all steps
        self.b_hn = None
        if b_ih is not None:
            bias = b_ih + b_hh
            if mode == "gru":  # b_hn stays inside r * (W_hn h + b_hn)
                bias[2 * hidden:] = b_ih[2 * hidden:]
                self.b_hn = b_hh[2 * hidden:]
            acts += bias.reshape(gates, 1, hidden)[order] * scale
        self.acts = acts.reshape(gates, steps, batch, hidden)
        self.hs = self._states(h0, steps, batch, hidden, dtype)
        self.cs = self._states(c0, steps, batch, hidden, dtype) if mode == "lstm" else None
        self.scratch = xp.empty((max(gates, 3), batch, hidden), dtype=dtype)
        self.small = xp.empty((batch, hidden), dtype=dtype)
        # Per-step values that backward needs (tanh(c) of the LSTM, W_hn h + b_hn of the GRU);
        # without a graph one step's worth is enough.
        per_step = (steps if keep else 1, batch, hidden)
        self.extra = xp.empty(per_step, dtype=dtype) if gates > 1 else None
        getattr(self, "_" + mode.split("_")[0] + "_forward")()

    def _states(self, initial: Any, steps: int, batch: int, hidden: int, dtype: Any) -> Any:
        states = (xp.zeros if self.lengths is not None else xp.empty)(
            (steps + 1, batch, hidden), dtype=dtype)
        slot = steps if self.reverse else 0
        if initial is not None:
            states[slot] = initial
        elif self.lengths is None:
            states[slot] = 0
        return states

    def _starts(self, states: Any, initial: Any, prev: int, fresh: slice | None) -> None:
        if fresh is not None and initial is not None:
            states[prev, fresh] = initial[fresh]

    # ----------------------------------------------------------------------------- forward
    def _rnn_forward(self) -> None:
        hs, acts, w_rec, relu = self.hs, self.acts[0], self.w_rec[0], self.mode == "rnn_relu"
        for k, (t, n, prev, out, fresh) in enumerate(self.plan):
            self._starts(hs, self.h0, prev, fresh)
            h = hs[out, :n]
            if k == 0 and self.h0 is None:
                xp.copyto(h, acts[t, :n])
            else:
                matmul(hs[prev, :n], w_rec, out=h)
                h += acts[t, :n]
            if relu:
                xp.maximum(h, 0, out=h)
            else:
                xp.tanh(h, out=h)

    def _lstm_forward(self) -> None:
        hs, cs, acts, w_rec, tcs, small = (self.hs, self.cs, self.acts, self.w_rec, self.extra,
                                           self.small)
        multiply, tanh = xp.multiply, xp.tanh
        for k, (t, n, prev, out, fresh) in enumerate(self.plan):
            if fresh is not None:
                self._starts(hs, self.h0, prev, fresh)
                self._starts(cs, self.c0, prev, fresh)
            a = acts[:, t, :n]
            if k or self.h0 is not None:
                gh = self.scratch[:, :n]
                matmul(hs[prev, :n], w_rec, out=gh)
                a += gh
            tanh(a, out=a)
            sig = a[:3]
            sig *= 0.5
            sig += 0.5
            i, f, o, g = a
            c = cs[out, :n]
            if k == 0 and self.c0 is None:
                multiply(i, g, out=c)
            else:
                multiply(f, cs[prev, :n], out=c)
                ig = small[:n]
                multiply(i, g, out=ig)
                c += ig
            tc = tcs[t if self.keep else 0, :n]
            tanh(c, out=tc)
            multiply(o, tc, out=hs[out, :n])

    def _gru_forward(self) -> None:
        hs, acts, w_rec, hns, b_hn = self.hs, self.acts, self.w_rec, self.extra, self.b_hn
        for k, (t, n, prev, out, fresh) in enumerate(self.plan):
            self._starts(hs, self.h0, prev, fresh)
            a = acts[:, t, :n]
            rz, new = a[:2], a[2]
            hn = hns[t if self.keep else 0, :n]
            h_prev = hs[prev, :n]
            if k == 0 and self.h0 is None:
                hn[...] = 0 if b_hn is None else b_hn
            else:
                gh = self.scratch[:, :n]
                matmul(h_prev, w_rec, out=gh)
                rz += gh[:2]
                if b_hn is None:
                    xp.copyto(hn, gh[2])
                else:
                    xp.add(gh[2], b_hn, out=hn)
            xp.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            r, z = rz
            rhn = self.small[:n]
            xp.multiply(r, hn, out=rhn)
            new += rhn
            xp.tanh(new, out=new)
            h = hs[out, :n]
            xp.subtract(h_prev, new, out=h)
            h *= z
            h += new

    # ----------------------------------------------------------------------------- results
    def output(self) -> Any:
        """The outputs (T, N, H): a view of the states, zero past each sequence's end."""
        steps = self.hs.shape[0] - 1
        if not self.reverse:
            return self.hs[1:]
        y = self.hs[:steps]
        if self.lengths is not None and self.h0 is not None:
            y = y.copy()  # the states keep the initial states that fresh rows read
            for _, _, prev, _, fresh in self.plan:
                if fresh is not None:
                    y[prev, fresh] = 0
        return y

    def final(self, states: Any) -> Any:
        """The state at each sequence's last step, (N, H)."""
        if self.reverse:
            return states[0].copy()
        if self.lengths is None:
            return states[-1].copy()
        return states[self.lengths, xp.arange(states.shape[1])]

    # ----------------------------------------------------------------------------- backward
    def backward(self, gy: Any, gh: Any, gc: Any, w_ih: Any, w_hh: Any, needs: tuple) -> tuple:
        """Gradients (x, h0, c0, w_ih, w_hh, b_ih, b_hh) from those of the outputs."""
        _, steps, batch, hidden = self.acts.shape
        dtype, mode = w_hh.dtype, self.mode
        dh = _carry(gh, batch, hidden, dtype)
        dc = _carry(gc, batch, hidden, dtype) if mode == "lstm" else None
        grads = 4 if mode == "gru" else GATES[mode]
        dgates = (xp.zeros if self.lengths is not None else xp.empty)(
            (grads, steps, batch, hidden), dtype=dtype)
        # W_hh's blocks in the order of the gate gradients they multiply
        rows = _HIDDEN_GRADS[mode]
        w_back = w_hh.reshape(len(rows), hidden, hidden)[xp.argsort(rows)]
        need_dh0 = needs[1] or needs[2]
        loop = getattr(self, "_" + mode.split("_")[0] + "_backward")
        loop(gy, dh, dc, dgates, w_back, need_dh0)
        return self._parameter_grads(dgates, dh, dc, w_ih, needs)

    def _rnn_backward(self, gy: Any, dh: Any, dc: Any, dgates: Any, w_back: Any,
                      need_dh0: bool) -> None:
        hs, relu, w = self.hs, self.mode == "rnn_relu", w_back[0]
        for k in range(len(self.plan) - 1, -1, -1):
            t, n, _, out, _ = self.plan[k]
            dh_n = dh[:n]
            if gy is not None:
                dh_n += gy[t, :n]
            d, y = dgates[0, t, :n], hs[out, :n]
            if relu:
                xp.greater(y, 0, out=d)
            else:
                xp.multiply(y, y, out=d)
                xp.subtract(1, d, out=d)
            d *= dh_n
            if k or need_dh0:
                matmul(d, w, out=dh_n)

    def _lstm_backward(self, gy: Any, dh: Any, dc: Any, dgates: Any, w_back: Any,
                       need_dh0: bool) -> None:
        acts, cs, tcs, small = self.acts, self.cs, self.extra, self.small
        multiply, subtract = xp.multiply, xp.subtract
        deriv = xp.empty(acts.shape[:1] + acts.shape[2:], dtype=acts.dtype)
        parts = self.scratch
        for k in range(len(self.plan) - 1, -1, -1):
            t, n, prev, _, _ = self.plan[k]
            dh_n, dc_n = dh[:n], dc[:n]
            if gy is not None:
                dh_n += gy[t, :n]
            a, tc, tmp = acts[:, t, :n], tcs[t, :n], small[:n]
            i, f, o, g = a
            # dc += dh * o * (1 - tanh(c)^2)
            multiply(tc, tc, out=tmp)
            subtract(1, tmp, out=tmp)
            tmp *= o
            tmp *= dh_n
            dc_n += tmp
            # gate gradients (dc * g, dc * c_prev, dh * tanh(c), dc * i) times each activation's
            # derivative: s (1 - s) for the sigmoids, (1 - g)(1 + g) for g
            d = dgates[:, t, :n]
            d_i, d_f, d_o, d_g = d
            multiply(dc_n, g, out=d_i)
            multiply(dc_n, cs[prev, :n], out=d_f)
            multiply(dh_n, tc, out=d_o)
            multiply(dc_n, i, out=d_g)
            da = deriv[:, :n]
            subtract(1, a, out=da)
            da[:3] *= a[:3]
            xp.add(g, 1, out=tmp)
            da[3] *= tmp
            d *= da
            dc_n *= f
            if k or need_dh0:
                # dh = sum over gates of d[gate] @ W_hh[gate]: one small GEMM per gate
                matmul(d, w_back, out=parts[:, :n])
                parts[:, :n].sum(axis=0, out=dh_n)

    def _gru_backward(self, gy: Any, dh: Any, dc: Any, dgates: Any, w_back: Any,
                      need_dh0: bool) -> None:
        acts, hns, hs = self.acts, self.extra, self.hs
        for k in range(len(self.plan) - 1, -1, -1):
            t, n, prev, _, _ = self.plan[k]
            dh_n = dh[:n]
            if gy is not None:
                dh_n += gy[t, :n]
            (r, z, new), hn, h_prev, tmp = acts[:, t, :n], hns[t, :n], hs[prev, :n], self.small[:n]
            d = dgates[:, t, :n]
            dr, dz, dnh, dnx = d
            xp.subtract(1, z, out=tmp)
            xp.multiply(new, new, out=dnx)
            xp.subtract(1, dnx, out=dnx)
            dnx *= tmp
            dnx *= dh_n
            tmp *= z
            xp.subtract(h_prev, new, out=dz)
            dz *= dh_n
            dz *= tmp
            xp.multiply(dnx, r, out=dnh)
            xp.subtract(1, r, out=tmp)
            tmp *= r
            xp.multiply(dnx, hn, out=dr)
            dr *= tmp
            dh_n *= z
            if k or need_dh0:
                parts = self.scratch[:, :n]
                matmul(d[:3], w_back, out=parts)
                dh_n += parts.sum(axis=0)

    def _parameter_grads(self, dgates: Any, dh: Any, dc: Any, w_ih: Any, needs: tuple) -> tuple:
        _, steps, batch, hidden = dgates.shape
        d3 = dgates.reshape(dgates.shape[0], steps * batch, hidden)
        mode, x2 = self.mode, self.x2
        gx = gw_ih = gw_hh = gb_ih = gb_hh = None
        inputs, hiddens = _INPUT_GRADS[mode], _HIDDEN_GRADS[mode]
        if needs[0]:
            gx = matmul(d3[inputs[0]], w_ih[:hidden])
            for block, k in enumerate(inputs[1:], 1):
                gx += matmul(d3[k], w_ih[block * hidden:(block + 1) * hidden])
            gx = gx.reshape(steps, batch, w_ih.shape[1])
        if needs[3]:
            gw_ih = xp.empty_like(w_ih)
            for block, k in enumerate(inputs):
                matmul(d3[k].T, x2, out=gw_ih[block * hidden:(block + 1) * hidden])
        if needs[4]:
            hprev = (self.hs[1:] if self.reverse else self.hs[:-1]).reshape(steps * batch, hidden)
            gw_hh = xp.empty((len(hiddens) * hidden, hidden), dtype=dgates.dtype)
            for block, k in enumerate(hiddens):
                matmul(d3[k].T, hprev, out=gw_hh[block * hidden:(block + 1) * hidden])
        if needs[5] or needs[6]:
            sums = d3.sum(axis=1)
            gb_ih, gb_hh = sums[inputs].reshape(-1), sums[hiddens].reshape(-1)
        return (gx, dh if needs[1] else None, dc if needs[2] else None, gw_ih, gw_hh,
                gb_ih if needs[5] else None, gb_hh if needs[6] else None)


def _carry(g: Any, batch: int, hidden: int, dtype: Any) -> Any:
    """A writable (N, H) gradient accumulator starting at ``g`` (or zero); a cell's unbatched
    gradient (H,) becomes (1, H)."""
    if g is None:
        return xp.zeros((batch, hidden), dtype=dtype)
    return xp.array(g, dtype=dtype, order="C", copy=True).reshape(batch, hidden)
