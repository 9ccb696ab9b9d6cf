"""The Pareto front of an experiment's done runs on its objectives (``--objectives``), as
``show`` and the HTML report present it: on the TRAIN window, where the search optimised them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from otonom_trader.engine.selection import knee_column

WINDOW = "train"


def front_table(runs: pd.DataFrame, objectives: tuple[str, ...],
                window: str = WINDOW) -> pd.DataFrame:
    """The done runs on the front (runs_frame layout + ``knee_score``), best first objective
    first (ties: lower run number); ``attrs["knee_run"]``: the front's knee (the highest knee
    score, ties: lower run number), what ``--select-by pareto-knee --select-on train`` takes
    when it is within the gap gate."""
    done = runs[runs["status"] == "done"]
    scores = knee_column(done, window, objectives)
    front = done.assign(knee_score=scores)[np.isfinite(scores)]
    front = front.sort_values([f"{window}_{objectives[0]}", "run_number"],
                              ascending=[False, True], kind="mergesort").reset_index(drop=True)
    if len(front):
        knee = front.sort_values(["knee_score", "run_number"], ascending=[False, True],
                                 kind="mergesort").iloc[0]
        front.attrs["knee_run"] = int(knee["run_number"])
    return front
