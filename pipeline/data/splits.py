"""Train/test assignment: once, stratified, seeded, and by source group."""

from __future__ import annotations

import numpy as np
import pandas as pd


def assign_split(strata: pd.Series, groups: pd.Series, test_size: float, seed: int) -> pd.Series:
    """'train' or 'test' per row.

    All rows of a group (a person, a source video) fall on the same side; within
    each stratum, round(test_size * groups) groups go to test, drawn with `seed`.
    """
    units = pd.DataFrame({"stratum": strata.astype(str).values, "group": groups.astype(str).values})
    # A group mixing strata is counted in its smallest one, whatever the row order.
    first = units.sort_values(["stratum", "group"], kind="stable").drop_duplicates("group")
    rng = np.random.default_rng(seed)
    test_groups: set[str] = set()
    for _, members in first.groupby("stratum", sort=True):
        names = members["group"].to_numpy()
        n_test = int(round(test_size * len(names)))
        test_groups.update(names[rng.permutation(len(names))[:n_test]])
    split = np.where(units["group"].isin(test_groups), "test", "train")
    return pd.Series(split, index=strata.index, dtype="string")


def cap_per_group(rows: pd.DataFrame, columns: list[str], limit: int | None, seed: int) -> pd.DataFrame:
    """A seeded sample of at most `limit` rows of every group (by `columns`), in the original order."""
    if not limit:
        return rows
    kept = [
        group.sample(n=min(len(group), limit), random_state=seed)
        for _, group in rows.groupby(columns, sort=True, observed=True)
    ]
    return pd.concat(kept).sort_index() if kept else rows
