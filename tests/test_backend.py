"""The backend: NumPy as the array library, and the allocator tuning with its opt-out."""

import os
import subprocess
import sys

import pytest

from deepgrad import backend

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or
                           os.confstr("CS_GNU_LIBC_VERSION") is None,
                           reason="the allocator tuning is for Linux with glibc")


def _tuned_in_a_fresh_process(**env):
    code = "import deepgrad.backend as b; print(b.allocator_tuned)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **env}, check=True)
    return result.stdout.strip()


@glibc
def test_allocator_is_tuned_on_glibc_unless_opted_out():
    assert _tuned_in_a_fresh_process(DEEPGRAD_MALLOC_TUNING="1") == "True"
    assert _tuned_in_a_fresh_process(DEEPGRAD_MALLOC_TUNING="0") == "False"


@glibc
def test_freed_arrays_are_reused_without_page_faults():
    resource = pytest.importorskip("resource")
    if not backend.allocator_tuned:
        pytest.skip("DEEPGRAD_MALLOC_TUNING=0 in this environment")
    xp = backend.xp
    for _ in range(3):  # warm up: the heap grows to hold the arrays once
        xp.ones(4_000_000, xp.float32).sum()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        xp.ones(4_000_000, xp.float32).sum()  # 16 MB, freed at once
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # Without the tuning each 16 MB array is a fresh mapping: about 4,000 faults apiece.
    assert faults < 1000
