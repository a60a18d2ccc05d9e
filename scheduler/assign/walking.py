"""Walking distance: the cost of each visit arc is the metres from home to the point."""

from __future__ import annotations

import numpy as np


def terms(distance_m: np.ndarray) -> dict[str, np.ndarray]:
    return {"walk_m": np.rint(distance_m).astype(np.int64)}
