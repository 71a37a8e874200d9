"""Where the constants of crop.fallback come from: dlib's CNN face detector (MMOD) beside the Haar cascade.

Reads haar-crop's table (data/crops/faces.parquet, built with params.yaml's crop) and measures:

1. The faces the fallback finds among the photos the cascade missed, per image set, at several
   `fallback_side`s, with the time per photo (this chose fallback_side).
2. The map from an MMOD box to the cascade's box around the same face: on photos where each detector
   finds exactly one face, the medians of the cascade's width over MMOD's, and of the shift of the
   centres in MMOD widths (pipeline.faces.detection.MMOD_TO_HAAR_WIDTH and MMOD_TO_HAAR_SHIFT).

    python benchmarks/fallback_boxes.py [--missed 200] [--per-set 60]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from pipeline.data.images import read_image
from pipeline.faces.detection import MMOD_TO_HAAR_SHIFT, MMOD_TO_HAAR_WIDTH, mmod_faces

SIDES = (160, 192, 224)


def recovered(missed: pd.DataFrame, side: int) -> tuple[pd.Series, float]:
    """Per image set, the share of photos where the fallback finds a face; and the seconds per photo."""
    start = time.perf_counter()
    found = [len(mmod_faces(read_image(path), side)) > 0 for path in missed["path"]]
    seconds = (time.perf_counter() - start) / max(1, len(missed))
    return pd.Series(found, index=missed.index).groupby(missed["dataset"]).mean(), seconds


def box_map(found: pd.DataFrame, side: int) -> pd.DataFrame:
    """Per photo found by both (one face each): the cascade's width / MMOD's, and the centre shift in MMOD widths."""
    rows = []
    for row in found.itertuples():
        boxes = mmod_faces(read_image(row.path), side)
        if len(boxes) != 1:
            continue
        # mmod_faces returns cascade-like boxes; undo its map to get MMOD's own box.
        x, y, w, _ = boxes[0]
        width = w / MMOD_TO_HAAR_WIDTH
        centre_x = x + w / 2 - MMOD_TO_HAAR_SHIFT[0] * width
        centre_y = y + w / 2 - MMOD_TO_HAAR_SHIFT[1] * width
        rows.append(
            {
                "dataset": row.dataset,
                "width": row.box_w / width,
                "shift_x": (row.box_x + row.box_w / 2 - centre_x) / width,
                "shift_y": (row.box_y + row.box_h / 2 - centre_y) / width,
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", default="data/crops/faces.parquet")
    parser.add_argument("--missed", type=int, default=200, help="missed photos per image set, at most")
    parser.add_argument("--per-set", type=int, default=60, help="photos per image set for the box map")
    args = parser.parse_args()
    faces = pd.read_parquet(args.faces)
    faces = faces[faces["media"] == "image"]
    # The cascade's own misses: with the fallback on, a face found by it is not one the cascade found.
    if "detector" in faces:
        cascade_found = faces["detector"].eq("cascade").fillna(False).astype(bool)  # NA: no detector found one
    else:
        cascade_found = faces["face_found"]
    missed = faces[~cascade_found].groupby("dataset").head(args.missed)
    print(f"photos the cascade missed: {len(missed)}")
    for side in SIDES:
        share, seconds = recovered(missed, side)
        print(
            f"fallback_side {side}: {seconds * 1000:.0f} ms a photo; found "
            + ", ".join(f"{name} {value:.3f}" for name, value in share.items())
        )
    both = faces[cascade_found & (faces["n_faces"] == 1)].groupby("dataset").head(args.per_set)
    mapped = box_map(both, 192)
    print(f"box map over {len(mapped)} photos (medians):")
    print(mapped.groupby("dataset")[["width", "shift_x", "shift_y"]].median().round(3).to_string())
    columns = mapped[["width", "shift_x", "shift_y"]]
    print("all:", columns.median().round(3).to_dict())
    print("median absolute deviation:", (columns - columns.median()).abs().median().round(3).to_dict())


if __name__ == "__main__":
    main()
