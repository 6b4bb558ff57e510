"""deepgrad's benchmark suite: deepgrad against PyTorch on the same work (``deepgrad bench``).

Imported only by ``deepgrad bench`` and ``benchmarks/run.py``, never by the library itself.
"""
