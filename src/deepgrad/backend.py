"""The one place that chooses the array library. Every other module uses ``xp`` from here."""

import numpy as xp

__all__ = ["xp"]
