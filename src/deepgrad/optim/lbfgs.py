"""L-BFGS: a quasi-Newton method for full-batch problems, PyTorch's ``LBFGS`` (its numbers, its
``state_dict`` layout).

Each ``step(closure)`` runs up to ``max_iter`` iterations. An iteration turns the gradient into a
direction with the two-loop recursion over the last ``history_size`` pairs of steps ``s`` and
gradient changes ``y`` (an approximation of the inverse Hessian built from them), then moves along
it: by ``lr`` (the first iteration by ``lr`` times min(1, 1 / sum |g|)), or by the step a strong
Wolfe line search finds (``line_search_fn="strong_wolfe"``: a step that lowers the loss enough
and flattens the slope along the direction enough, bracketed then zoomed in on by cubic
interpolation).

    optimizer = dg.optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss
    optimizer.step(closure)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from deepgrad.backend import xp
from deepgrad.grad_mode import enable_grad
from deepgrad.optim.optimizer import Optimizer


def _cubic_min(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
               bounds: tuple[float, float] | None = None) -> float:
    """The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, kept
    within ``bounds`` (default: between the two points); their midpoint when the cubic has no
    minimum."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    square = d1 * d1 - g1 * g2
    if square < 0:
        return (low + high) / 2.0
    d2 = float(xp.sqrt(square))
    if x1 <= x2:
        point = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        point = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(point, low), high)


def _strong_wolfe(evaluate: Callable[[float], tuple[float, Any]], t: float, d: Any, f: float,
                  g: Any, gtd: float, max_ls: int, tolerance_change: float, c1: float = 1e-4,
                  c2: float = 0.9) -> tuple[float, Any, float, int]:
    """A step ``t`` along ``d`` that satisfies the strong Wolfe conditions (sufficient decrease,
    c1; a slope at most c2 times the initial one in size), from the loss ``f``, gradient ``g``
    and slope ``gtd`` at 0. ``evaluate(t)`` gives the loss and gradient at step t. Returns the
    loss, gradient and step found, and the number of evaluations."""
    d_norm = float(xp.abs(d).max())
    f_new, g_new = evaluate(t)
    evals, gtd_new = 1, float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done, tries = False, 0
    # Bracketing: grow the step until an interval surely holds an acceptable one.
    while tries < max_ls:
        too_far = f_new > f + c1 * t * gtd or (tries > 1 and f_new >= f_prev)
        if not too_far and abs(gtd_new) <= -c2 * gtd:
            bracket, values, grads, slopes = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if too_far or gtd_new >= 0:  # past a minimum along d: it lies between the two steps
            bracket = [t_prev, t]
            values, grads, slopes = [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        longer = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                            bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = longer
        f_new, g_new = evaluate(t)
        evals, tries, gtd_new = evals + 1, tries + 1, float(g_new @ d)
    if tries == max_ls:
        bracket, values, grads, slopes = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]
    # Zoom: shrink the bracket around an acceptable step.
    stalled = False
    low, high = (0, 1) if values[0] <= values[-1] else (1, 0)
    while not done and tries < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_min(bracket[0], values[0], slopes[0], bracket[1], values[1], slopes[1])
        top, bottom = max(bracket), min(bracket)
        margin = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < margin:
            # Too near an end: after a step that made too little progress (or at an end), try
            # a tenth of the bracket away from the nearer end instead.
            if stalled or t >= top or t <= bottom:
                t = top - margin if abs(t - top) < abs(t - bottom) else bottom + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = evaluate(t)
        evals, tries, gtd_new = evals + 1, tries + 1, float(g_new @ d)
        if f_new > f + c1 * t * gtd or f_new >= values[low]:
            bracket[high], values[high], grads[high], slopes[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if values[0] <= values[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], values[high] = bracket[low], values[low]
                grads[high], slopes[high] = grads[low], slopes[low]
            bracket[low], values[low], grads[low], slopes[low] = t, f_new, g_new, gtd_new
    return values[low], grads[low], bracket[low], evals


class LBFGS(Optimizer):
    """L-BFGS over all the parameters as one vector (module docstring). One parameter group
    only; ``step`` needs a closure, which it calls several times.

    Args:
        params: the Parameters to optimize.
        lr: the step size (the initial step of the line search).
        max_iter: iterations per ``step``.
        max_eval: loss evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop once every gradient entry is at most this in size.
        tolerance_change: stop once the loss or the parameters change by less than this.
        history_size: how many (step, gradient change) pairs the Hessian estimate uses.
        line_search_fn: None (steps of ``lr``) or ``"strong_wolfe"``.
    """

    needs_closure = True  # dg.Trainer passes its step as a closure

    def __init__(self, params: Iterable[Any], lr: float = 1.0, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        super().__init__(params, {
            "lr": lr, "max_iter": max_iter,
            "max_eval": max_iter * 5 // 4 if max_eval is None else max_eval,
            "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
            "history_size": history_size, "line_search_fn": line_search_fn})

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Parameter groups are not supported: L-BFGS treats all parameters as one vector."""
        if self.param_groups:
            raise ValueError("LBFGS: supports one parameter group only (its parameters are one "
                             "vector with one Hessian estimate)")
        super().add_param_group(param_group)

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """lr and the tolerances >= 0, counts >= 1, a known line search."""
        for key in ("lr", "tolerance_grad", "tolerance_change"):
            self.check_number(group, index, key)
        for key in ("max_iter", "max_eval", "history_size"):
            self.check_number(group, index, key, low=1)
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe'; got "
                             f"{group['line_search_fn']!r}")

    # ----------------------------------------------------------------- the parameters as a vector
    def _params(self) -> list[Any]:
        return self.param_groups[0]["params"]

    def _flat_grad(self) -> Any:
        return xp.concatenate([p.grad.data.reshape(-1) if p.grad is not None
                               else xp.zeros(p.data.size, p.data.dtype) for p in self._params()])

    def _move(self, step: float, direction: Any) -> None:
        offset = 0
        for p in self._params():
            n = p.data.size
            p.data += step * direction[offset:offset + n].reshape(p.data.shape)
            p._version += 1  # changed in place: a graph that saved it must notice
            offset += n

    def _set(self, arrays: list[Any]) -> None:
        for p, saved in zip(self._params(), arrays, strict=True):
            p.data[...] = saved
            p._version += 1

    # ----------------------------------------------------------------- the step
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` iterations; ``closure`` clears the gradients, computes the
        loss, calls ``backward`` and returns the loss. Returns the loss of the first call."""
        if closure is None:
            raise ValueError("LBFGS.step needs a closure that recomputes the loss (it evaluates "
                             "it several times per step)")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]

        def loss_of() -> tuple[Any, float]:
            with enable_grad():
                out = closure()
            return out, float(out.item() if hasattr(out, "item") else out)

        # The whole state sits on the first parameter, as in PyTorch's state_dict.
        state = self.state.setdefault(self._params()[0], {"func_evals": 0, "n_iter": 0})
        first, loss = loss_of()
        evals = 1
        state["func_evals"] += 1
        grad = self._flat_grad()
        if xp.abs(grad).max() <= tol_grad:
            return first
        d, t = state.get("d"), state.get("t")
        dirs, steps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag, prev_grad = state.get("H_diag"), state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")
        for n_iter in range(1, max_iter + 1):
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, dirs, steps, ro, h_diag = -grad, [], [], [], 1.0
            else:
                d, h_diag = self._direction(state, grad, prev_grad, d, t, dirs, steps, ro,
                                            h_diag)
            prev_grad = grad.copy()
            prev_loss = loss
            t = (min(1.0, 1.0 / float(xp.abs(grad).sum())) * lr if state["n_iter"] == 1
                 else lr)
            gtd = float(grad @ d)
            if gtd > -tol_change:  # not a descent direction any more
                break
            used = 0
            if group["line_search_fn"] is not None:
                start = [p.data.copy() for p in self._params()]

                def at(step: float, start: list = start, d: Any = d) -> tuple[float, Any]:
                    self._move(step, d)
                    value = loss_of()[1]
                    flat = self._flat_grad()
                    self._set(start)
                    return value, flat

                loss, grad, t, used = _strong_wolfe(at, t, d, loss, grad, gtd,
                                                    max_eval - evals, tol_change)
                self._move(t, d)
            else:
                self._move(t, d)
                if n_iter != max_iter:  # the last iteration's loss would go unused
                    loss = loss_of()[1]
                    grad = self._flat_grad()
                    used = 1
            evals += used
            state["func_evals"] += used
            if (n_iter == max_iter or evals >= max_eval or xp.abs(grad).max() <= tol_grad
                    or xp.abs(d * t).max() <= tol_change or abs(loss - prev_loss) < tol_change):
                break
        state.update(d=d, t=t, old_dirs=dirs, old_stps=steps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_grad, prev_loss=prev_loss)
        self._step_count += 1
        return first

    def _direction(self, state: dict[str, Any], grad: Any, prev_grad: Any, d: Any, t: float,
                   dirs: list, steps: list, ro: list, h_diag: float) -> tuple[Any, float]:
        """The L-BFGS direction: the memory updated with the last step's (y, s) pair when
        y . s > 1e-10 (curvature along the step), then -H g by the two-loop recursion."""
        y, s = grad - prev_grad, d * t
        ys = float(y @ s)
        if ys > 1e-10:
            if len(dirs) == self.param_groups[0]["history_size"]:
                dirs.pop(0), steps.pop(0), ro.pop(0)
            dirs.append(y), steps.append(s), ro.append(1.0 / ys)
            h_diag = ys / float(y @ y)
        alphas = state.setdefault("al", [None] * self.param_groups[0]["history_size"])
        q = -grad
        for i in range(len(dirs) - 1, -1, -1):
            alphas[i] = float(steps[i] @ q) * ro[i]
            q -= alphas[i] * dirs[i]
        r = q * h_diag
        for i in range(len(dirs)):
            beta = float(dirs[i] @ r) * ro[i]
            r += (alphas[i] - beta) * steps[i]
        return r, h_diag

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """As :meth:`Optimizer.state_dict`, with the history's lists copied too."""
        saved = super().state_dict()
        saved["state"] = copy.deepcopy(saved["state"])
        return saved

    def _loaded_state(self, p: Any, entries: dict, group: dict, index: int) -> dict:
        """The whole L-BFGS state (on the first parameter), copied as it was saved."""
        known = {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
                 "prev_flat_grad", "prev_loss", "al"}
        unknown = sorted(set(entries) - known)
        if index != 0 or unknown or not {"func_evals", "n_iter"} <= set(entries):
            raise KeyError(f"LBFGS.load_state_dict: expected its state on parameter 0 with "
                           f"func_evals and n_iter; got parameter {index} with {sorted(entries)}")
        return copy.deepcopy(entries)


__all__ = ["LBFGS"]
