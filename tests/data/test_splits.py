from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.data.splits import assign_split


def frame(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    per_group = rng.choice(["a", "b", "c"], size=n // 2, p=[0.6, 0.3, 0.1])
    return pd.DataFrame(
        {
            "stratum": np.repeat(per_group, 2),
            "group": [f"g{i // 2}" for i in range(n)],  # two rows per group
        }
    )


def test_split_is_stratified_and_keeps_groups_together():
    data = frame()
    split = assign_split(data["stratum"], data["group"], 0.2, seed=1)
    assert split.isin(["train", "test"]).all()
    assert abs((split == "test").mean() - 0.2) < 0.02
    for stratum, rows in data.groupby("stratum"):
        groups = rows["group"].drop_duplicates()
        share = (split[groups.index] == "test").mean()
        assert abs(share - 0.2) < 0.03, stratum
    sides = pd.DataFrame({"group": data["group"], "split": split}).groupby("group")["split"].nunique()
    assert (sides == 1).all()


def test_split_is_deterministic_and_follows_the_seed():
    data = frame()
    first = assign_split(data["stratum"], data["group"], 0.2, seed=1)
    assert first.equals(assign_split(data["stratum"], data["group"], 0.2, seed=1))
    assert not first.equals(assign_split(data["stratum"], data["group"], 0.2, seed=2))


def test_split_does_not_depend_on_row_order():
    data = frame()
    first = assign_split(data["stratum"], data["group"], 0.2, seed=1)
    shuffled = data.sample(frac=1, random_state=3)
    second = assign_split(shuffled["stratum"], shuffled["group"], 0.2, seed=1)
    assert first.equals(second.sort_index())
