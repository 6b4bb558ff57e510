"""deepgrad_runtime stands alone: it imports with deepgrad itself made unimportable."""

import subprocess
import sys


def test_imports_without_deepgrad(tmp_path):
    code = ("import sys\n"
            "sys.modules['deepgrad'] = None  # any import of deepgrad now fails\n"
            "import numpy as np, deepgrad_runtime as rt\n"
            f"path = rt.save_file({{'w': np.arange(3.0)}}, {str(tmp_path / 'w.safetensors')!r})\n"
            "arrays, _ = rt.load_file(path)\n"
            "assert arrays['w'].tolist() == [0.0, 1.0, 2.0]\n"
            "assert not [m for m in sys.modules if m.startswith('deepgrad.')]\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_deepgrad_shares_the_file_format_error():
    import deepgrad as dg
    import deepgrad_runtime

    assert dg.FileFormatError is deepgrad_runtime.FileFormatError
