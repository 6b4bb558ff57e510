"""The lr schedule tests' shared harness: the same two-group optimizer in deepgrad and torch,
and the comparison of their schedules step by step."""

import numpy as np

from deepgrad import optim
from deepgrad.nn import Parameter

GROUP_LRS = (0.1, 0.04)


def make_optimizer(module, tensor, name="SGD", **options):
    """An optimizer of ``module`` (deepgrad.optim or torch.optim) with two groups."""
    groups = [{"params": [tensor(np.zeros(2))], "lr": lr} for lr in GROUP_LRS]
    return getattr(module, name)(groups, **options)


def both_optimizers(torch, name="SGD", **options):
    ours = make_optimizer(optim, Parameter, name, **options)
    theirs = make_optimizer(torch.optim, lambda a: torch.tensor(a, requires_grad=True), name,
                            **options)
    return ours, theirs


def momentum_of(group):
    if "betas" in group:
        return group["betas"][0]
    return group.get("momentum")


def assert_same_schedule(ours, theirs):
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_allclose(np.array(a, dtype=float), np.array(b, dtype=float),
                                   rtol=1e-12, atol=1e-15, err_msg=f"step {step + 1}")
