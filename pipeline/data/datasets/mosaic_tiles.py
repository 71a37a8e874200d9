"""Faces inside figure mosaics, each listed with its box in a `tiles.csv` (the mirror's SFHQ-T2I figures).

`tiles.csv` (columns figure,row,col,x,y,w,h,generator,source_file,query,sex,minor) gives one row per listed face:
its photo box in the figure (`img[y:y+h, x:x+w]`), the generator, and the file it shows. The download stage
cuts each listed box out once (`prepare`, lossless PNG of the figure's decoded pixels, never re-encoded as JPEG),
so every later stage reads a tile as it reads any image. Only the listed boxes are cut.

One image can be listed several times (in several figures): `group` is its source file, so the splits keep all
its tiles on one side. `sex` is what a CLIP search retrieved for a phrase, not an annotation, and is not used as
a gender label. `minor=1` faces are kept for the fake task (which needs no adults); their `age` is left unknown.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2

from pipeline.data.datasets.schema import manifest, posix

TILES_TABLE = "tiles.csv"
TILES_FOLDER = "tiles"


def tile_name(row: dict) -> str:
    """`figures/SDXL_images_with_prompts.jpg`, row 1, col 2 -> `SDXL_images_with_prompts_r1c2.png`."""
    return f"{Path(row['figure']).stem}_r{int(row['row'])}c{int(row['col'])}.png"


def listed_tiles(root: Path) -> list[dict]:
    with (root / TILES_TABLE).open(newline="") as handle:
        return list(csv.DictReader(handle))


def prepare(root: Path) -> int:
    """Cut every listed box out of its figure into root/tiles/ (PNG: the decoded pixels, unchanged); the number
    of tiles. A box outside its figure is an error, not a smaller tile."""
    folder = root / TILES_FOLDER
    folder.mkdir(exist_ok=True)
    figures: dict[str, object] = {}
    rows = listed_tiles(root)
    for row in rows:
        figure = figures.get(row["figure"])
        if figure is None:
            figure = figures[row["figure"]] = cv2.imread(str(root / row["figure"]), cv2.IMREAD_COLOR)
            if figure is None:
                raise OSError(f"{root / row['figure']} cannot be decoded")
        x, y, w, h = (int(row[key]) for key in ("x", "y", "w", "h"))
        if x < 0 or y < 0 or x + w > figure.shape[1] or y + h > figure.shape[0]:
            raise OSError(f"{TILES_TABLE}: the box {x},{y},{w},{h} lies outside {row['figure']}")
        if not cv2.imwrite(str(folder / tile_name(row)), figure[y : y + h, x : x + w]):
            raise OSError(f"cannot write {folder / tile_name(row)}")
    return len(rows)


def read(root: Path, dataset: str, label: str = "fake", exclude_generators: list[str] | None = None):
    """One fake row per listed tile (the ones `prepare` cut); generators in `exclude_generators` are left out
    (too few faces to train on: DALL-E 3's two are a probe only)."""
    excluded = set(exclude_generators or ())
    rows = [
        {
            "path": posix(root / TILES_FOLDER / tile_name(row)),
            "dataset": dataset,
            "media": "image",
            "real_fake": label,
            "group": row["source_file"],
            "subset": row["generator"],
        }
        for row in listed_tiles(root)
        if row["generator"] not in excluded
    ]
    return manifest(rows)
