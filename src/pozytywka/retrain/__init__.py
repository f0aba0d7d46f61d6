"""Weekly retraining: hindsight on the published playlists, drift of the data, the week plan."""

from __future__ import annotations

import math
from typing import Any


def rounded(value: Any, digits: int = 6) -> Any:
    """``value`` with floats rounded (stable metric diffs) and NaN as None (valid JSON)."""
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    if isinstance(value, float) or (hasattr(value, "dtype") and value.dtype.kind == "f"):
        value = float(value)
        return None if math.isnan(value) else round(value, digits)
    return value
