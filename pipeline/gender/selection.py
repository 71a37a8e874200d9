"""Which faces train and which test the gender model: every labelled source, each with its own held-out part.

Roles: `train` (fits the features, the search, the calibration), `unused`
(training-split faces left out by a cap or by balancing), `test` (the
source's held-out people, never fitted on) and `cross` (a source only
evaluated on). Roles follow filter-small-images' split, made by person.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from pipeline.config import GenderConfig
from pipeline.errors import GenrecError

log = logging.getLogger("genrec")

BALANCE_GROUPS = {"gender": ["gender"], "ethnicity": ["ethnicity"], "ethnicity_gender": ["ethnicity", "gender"]}


class GenderDataError(GenrecError, ValueError):
    """The configured sources hold no usable training faces."""


def labelled_images(faces: pd.DataFrame, gender: GenderConfig) -> pd.DataFrame:
    """haar-crop's rows of the task's sources with a gender label, adults where the age is known."""
    rows = faces["gender"].notna() & faces["dataset"].isin([*gender.datasets, *gender.cross_datasets])
    if gender.min_age is not None:
        rows &= faces["age"].isna() | (faces["age"] >= gender.min_age)
    return faces[rows]


def gender_faces(faces: pd.DataFrame, gender: GenderConfig) -> pd.DataFrame:
    """The task's faces with a role; the training split's faces are all `train` until sampled."""
    rows = labelled_images(faces, gender)
    rows = rows[rows["face_found"]].copy()
    own = rows["dataset"].isin(gender.datasets)
    rows["role"] = np.where(~own, "cross", np.where(rows["split"] == "train", "train", "test"))
    return rows.sort_values("crop_index").reset_index(drop=True)


def detection_rates(faces: pd.DataFrame, gender: GenderConfig) -> dict[str, dict]:
    """Per source, its held-out images and the share in which a face was found."""
    rows = labelled_images(faces, gender)
    rows = rows[(rows["split"] == "test") | ~rows["dataset"].isin(gender.datasets)]
    return {
        str(dataset): {
            "images": int(len(part)),
            "faces_found": int(part["face_found"].sum()),
            "detection_rate": round(float(part["face_found"].mean()), 6),
        }
        for dataset, part in rows.groupby("dataset", sort=True)
    }


def undersample(rows: pd.DataFrame, columns: list[str], seed: int) -> pd.Index:
    """Index of a seeded sample with every group (by `columns`) cut to the smallest group's size.

    Faces missing a balancing label (UTKFace has two without a race) cannot be placed in a
    group: they are left out, not made a group of their own that would cut every group to its size.
    """
    labelled = rows.dropna(subset=columns)
    if len(labelled) < len(rows):
        log.info(
            "balancing by %s leaves out %d training faces without a label", "+".join(columns), len(rows) - len(labelled)
        )
    if labelled.empty:
        raise GenderDataError(f"no training face has a {'+'.join(columns)} label to balance by")
    groups = labelled.groupby(columns, sort=True, observed=True)
    smallest = int(groups.size().min())
    kept = [members.sample(n=smallest, random_state=seed).index for _, members in groups]
    return pd.Index(np.sort(np.concatenate(kept)))


def select_training(rows: pd.DataFrame, gender: GenderConfig, seed: int) -> pd.DataFrame:
    """Mark training faces left out by the per-source cap, balancing or max_train as `unused`."""
    train = rows[rows["role"] == "train"]
    kept = train.index
    if gender.max_train_per_source:
        kept = pd.Index(
            np.sort(
                np.concatenate(
                    [
                        part.sample(n=min(len(part), gender.max_train_per_source), random_state=seed).index
                        for _, part in train.groupby("dataset", sort=True)
                    ]
                )
            )
        )
    if gender.balance != "none":
        kept = undersample(train.loc[kept], BALANCE_GROUPS[gender.balance], seed)
        log.info("balanced by %s: %d of %d training faces kept", gender.balance, len(kept), len(train))
    if gender.max_train and len(kept) > gender.max_train:
        kept = pd.Index(np.sort(train.loc[kept].sample(n=gender.max_train, random_state=seed).index))
    rows = rows.copy()
    rows.loc[train.index.difference(kept), "role"] = "unused"
    return rows


def require_both_genders(rows: pd.DataFrame, gender: GenderConfig) -> None:
    if rows.loc[rows["role"] == "train", "gender"].nunique() < 2:
        raise GenderDataError(
            f"no training faces of both genders in {list(gender.datasets)}: "
            "check gender.datasets, gender.min_age and filter.datasets"
        )


def role_counts(rows: pd.DataFrame) -> dict:
    """Faces per role, and the training faces per source (extract-eigen's metrics)."""
    return {
        "faces": {role: int((rows["role"] == role).sum()) for role in ("train", "unused", "test", "cross")},
        "train_by_source": {
            str(k): int(v) for k, v in rows.loc[rows["role"] == "train", "dataset"].value_counts().sort_index().items()
        },
    }
