"""``python -m deepgrad_runtime serve-batch ARTIFACT INPUT.npy OUTPUT.npy``."""

import sys

from deepgrad_runtime.cli import main

sys.exit(main())
