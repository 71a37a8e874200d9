"""Classical face swaps between aligned face chips, as FakeAVCeleb's fakes: same race, same gender.

UTKFace's chips are aligned (eyes, nose and mouth sit at the same place in
every 200x200 chip), so the inner face of a source chip can be moved onto a
target chip without landmarks: an ellipse over eyes, nose and mouth, the
source's colours matched to the target's inside it (mean and spread per Lab
channel), then Poisson blending (cv2.seamlessClone) hides the seam.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

CHIP = 200
# The inner face of an aligned 200x200 UTKFace chip: centre and half-axes (x, y).
INNER_FACE = ((100, 112), (46, 60))


def inner_face_mask(side: int = CHIP) -> np.ndarray:
    """uint8 mask (255 inside) of the inner face, scaled to a side x side chip."""
    scale = side / CHIP
    (cx, cy), (ax, ay) = INNER_FACE
    mask = np.zeros((side, side), np.uint8)
    cv2.ellipse(
        mask, (round(cx * scale), round(cy * scale)), (round(ax * scale), round(ay * scale)), 0, 0, 360, 255, -1
    )
    return mask


def match_colours(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`source` with each Lab channel shifted and scaled to the target's mean and spread inside the mask."""
    inside = mask > 0
    src = cv2.cvtColor(source, cv2.COLOR_BGR2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_BGR2LAB).astype(np.float32)
    for channel in range(3):
        s, t = src[..., channel][inside], dst[..., channel][inside]
        src[..., channel] = (src[..., channel] - s.mean()) * (t.std() / max(float(s.std()), 1e-6)) + t.mean()
    return cv2.cvtColor(np.clip(src, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def swap_face(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The target chip wearing the source chip's inner face (both BGR; resized to the target's size)."""
    side = target.shape[0]
    if target.shape[:2] != (side, side):
        raise ValueError(f"face chips must be square, got {target.shape[:2]}")
    source = (
        cv2.resize(source, (side, side), interpolation=cv2.INTER_AREA) if source.shape[:2] != (side, side) else source
    )
    mask = inner_face_mask(side)
    matched = match_colours(source, target, mask)
    x, y, w, h = cv2.boundingRect(mask)
    return cv2.seamlessClone(matched, target, mask, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)


def pair_sources(targets: pd.DataFrame, pool: pd.DataFrame, cells: list[str], seed: int) -> pd.Series:
    """For each target row, the path of a different face of the same cell (e.g. ethnicity x gender), seeded."""
    rng = np.random.default_rng(seed)
    sources = pd.Series(pd.NA, index=targets.index, dtype="object")
    pool_by_cell = {key: members["path"].tolist() for key, members in pool.groupby(cells, sort=True)}
    for key, members in targets.groupby(cells, sort=True):
        candidates = pool_by_cell.get(key, [])
        for index, path in zip(members.index, members["path"], strict=True):
            others = [p for p in candidates if p != path]
            if others:
                sources[index] = others[int(rng.integers(len(others)))]
    return sources
