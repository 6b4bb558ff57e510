"""The benchmark suite from a source checkout: ``python benchmarks/run.py [--quick] ...`` is
``deepgrad bench [--quick] ...`` (the workloads live in ``deepgrad.bench``)."""

import sys

from deepgrad.bench.run import main

if __name__ == "__main__":
    sys.exit(main())
