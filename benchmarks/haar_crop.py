"""haar-crop against the straightforward loop, side by side on the same UTKFace images.

The baseline is the loop one writes first: one process, one image after another:
read, grayscale, pad 50 px, detectMultiScale(gray, 1.1, 5, minSize=(30, 30)),
crop the largest face, resize to 100x100 (OpenCV keeps its default threading).
genrec's haar-crop runs the configured crop (params.yaml) through joblib on 1
and on all cores. Prints images/s and detection rate of each, and the ratios.

    python benchmarks/haar_crop.py [--images 5000] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import os
import random
import tarfile
import tempfile
import time
from functools import partial
from pathlib import Path

import cv2
import joblib
import numpy as np

from pipeline.config import ComputeConfig, load_config
from pipeline.faces.crops import crop_largest_faces
from pipeline.faces.detection import load_cascade
from pipeline.parallel import compute_backend, map_batches

REPO = Path(__file__).resolve().parents[1]


def straightforward_loop(paths: list[str]) -> np.ndarray:
    """The baseline: faces found per image."""
    cascade = load_cascade("haarcascade_frontalface_default.xml")
    found = np.zeros(len(paths), dtype=bool)
    for index, path in enumerate(paths):
        gray = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY)
        gray = cv2.copyMakeBorder(gray, 50, 50, 50, 50, cv2.BORDER_CONSTANT, value=0)
        faces = cascade.detectMultiScale(gray, 1.1, 5, minSize=(30, 30))
        if len(faces):
            x, y, w, h = max(faces, key=lambda box: box[2] * box[3])
            cv2.resize(gray[y : y + h, x : x + w], (100, 100))
            found[index] = True
    return found


def genrec_crop(paths: list[str], crop, n_jobs: int, batch_size: int) -> np.ndarray:
    compute = ComputeConfig(backend="loky", n_jobs=n_jobs, batch_size=batch_size)
    work = partial(crop_largest_faces, crop=crop)
    with compute_backend(compute):
        return np.concatenate([batch.n_faces > 0 for batch in map_batches(work, paths, batch_size, "genrec")])


def timed(label: str, func, count: int) -> tuple[float, float]:
    start = time.perf_counter()
    found = func()
    rate = count / (time.perf_counter() - start)
    print(f"{label:<42} {rate:8.1f} images/s   detection rate {found.mean():.4f}", flush=True)
    return rate, float(found.mean())


def utkface_images(count: int, seed: int) -> list[str]:
    folder = REPO / "data" / "raw" / "utkface" / "UTKFace"
    if not folder.is_dir():
        mirror = Path(os.environ.get("GENREC_DATA_MIRROR", REPO.parent / "shared" / "datasets"))
        target = Path(tempfile.mkdtemp(prefix="genrec-bench-"))
        with tarfile.open(mirror / "utkface" / "UTKFace.tar.gz") as tar:
            tar.extractall(target, filter="data")
        folder = target / "UTKFace"
    paths = sorted(str(p) for p in folder.glob("*.jpg"))
    return sorted(random.Random(seed).sample(paths, min(count, len(paths))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    args = parser.parse_args()
    cfg = load_config(args.params)
    paths = utkface_images(args.images, cfg.seed)
    cores = joblib.cpu_count()
    print(f"{len(paths)} UTKFace images, {cores} cores; crop config: {cfg.crop}")
    base_rate, base_found = timed("straightforward loop (1 process)", lambda: straightforward_loop(paths), len(paths))
    one_rate, one_found = timed(
        "genrec haar-crop, 1 core", lambda: genrec_crop(paths, cfg.crop, 1, cfg.compute.batch_size), len(paths)
    )
    all_rate, all_found = timed(
        f"genrec haar-crop, {cores} cores",
        lambda: genrec_crop(paths, cfg.crop, cores, cfg.compute.batch_size),
        len(paths),
    )
    print(f"speed-up over the loop ({cores} cores):  {all_rate / base_rate:.2f}x  (target >= 3)")
    print(f"speed-up over the loop (1 core):   {one_rate / base_rate:.2f}x")
    print(f"{cores} cores over 1 core:           {all_rate / one_rate:.2f}x  (target >= 1.7)")
    print(f"detection rate, genrec - loop:     {all_found - base_found:+.4f}  (target >= 0)")


if __name__ == "__main__":
    main()
