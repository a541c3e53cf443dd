"""When a period with no rows is an extraction gap rather than a quiet period.

One rule for the panel (labels over a gap are missing), ``validate`` and
``inspect``: a table with no row at all in a period, city-wide, although its median
is at least :data:`GAP_MIN_ROWS` rows per period. An empty period by chance then has
a probability of about e^-5, under 1 %.
"""

from __future__ import annotations

import numpy as np

GAP_MIN_ROWS = 5.0


def extraction_gaps(counts: np.ndarray) -> np.ndarray:
    """Which periods of a table's rows-per-period ``counts`` (shape (n,)) are gaps."""
    counts = np.asarray(counts)
    if counts.size == 0 or np.median(counts) < GAP_MIN_ROWS:
        return np.zeros(counts.shape, dtype=bool)
    return counts == 0
