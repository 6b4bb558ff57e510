"""Peak memory of a training epoch: deepgrad against PyTorch, each in a fresh process.

    .venv/bin/python benchmarks/memory.py [--steps 469] [--batch-size 128]

Each framework trains the flagship CNN (``dg.models.cnn()`` and its torch twin, SGD with
momentum) for ``--steps`` steps (469 = one Fashion-MNIST epoch at batch 128) on random 28x28
images, in a child process of its own. The child reports its resident set size after imports,
data setup and one step on two images, and its peak (VmHWM, not ``ru_maxrss``, which Linux
carries over from the parent through fork and exec) after training: the growth is what training
itself costs in memory (graph, activations, gradients, optimizer state, allocator caches). The
two-image step counts as set-up because each framework loads code lazily on its first step:
deepgrad imports numba and loads its compiled loops there (about 100 MiB of compiler runtime),
which would otherwise count as training memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, sys
import numpy as np
framework, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
y = rng.integers(0, 10, batch)

def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

if framework == "deepgrad":
    import deepgrad as dg
    from deepgrad import models, nn, optim
    model = models.cnn()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn, dx, dy = nn.CrossEntropyLoss(), dg.tensor(x), dg.tensor(y)
    def step(n=batch):
        opt.zero_grad(); loss_fn(model(dx[:n]), dy[:n]).backward(); opt.step()
else:
    import torch
    from deepgrad.bench.twins import torch_cnn
    torch.set_num_threads(2)
    model = torch_cnn(torch)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    loss_fn, tx, ty = torch.nn.CrossEntropyLoss(), torch.tensor(x), torch.tensor(y)
    def step(n=batch):
        opt.zero_grad(); loss_fn(model(tx[:n]), ty[:n]).backward(); opt.step()
step(2)  # lazy set-up (numba and the compiled loops, torch's kernels) on two images: before
before = rss_mib()
for _ in range(steps):
    step()
with open("/proc/self/status") as f:  # this process's own high-water mark (see the docstring)
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
print(json.dumps({"before": before, "peak": peak}))
"""


def measure(framework: str, steps: int, batch: int) -> dict[str, float]:
    """RSS before training and peak RSS after, in MiB, of a fresh process."""
    out = subprocess.run([sys.executable, "-c", _CHILD, framework, str(steps), str(batch)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Measure both frameworks and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=469)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    results = {name: measure(name, args.steps, args.batch_size) for name in ("deepgrad", "torch")}
    print(f"flagship CNN, {args.steps} training steps of batch {args.batch_size} (MiB)")
    print("| framework | RSS before | peak RSS | growth |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in results.items():
        print(f"| {name} | {r['before']:.0f} | {r['peak']:.0f} | {r['peak'] - r['before']:.0f} |")
    ours, theirs = (results[n]["peak"] - results[n]["before"] for n in ("deepgrad", "torch"))
    print(f"growth deepgrad / torch: {ours / theirs:.2f}x (target <= 1x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
