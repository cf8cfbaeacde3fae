"""The six-row predictions table the audit's input-checking tests start from."""

from __future__ import annotations

import pandas as pd


def six_rows(prob_column: str = "p", **changes) -> pd.DataFrame:
    """Labels ``y``, a probability or score column, flags ``f`` and groups ``g``; ``changes`` replace columns."""
    frame = pd.DataFrame(
        {
            "y": [0, 1, 0, 1, 1, 0],
            prob_column: [0.1, 0.9, 0.2, 0.8, 0.7, 0.3],
            "f": [0, 1, 0, 1, 1, 0],
            "g": ["a", "b", "a", "b", "a", "b"],
        }
    )
    for col, values in changes.items():
        frame[col] = values
    return frame
