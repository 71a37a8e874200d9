"""extract-spectrum against the seed's per-image code, side by side on the same 2,000 mirror images.

By default the images are the experiment's: 1,000 real CelebA (178x218) and
1,000 DCGAN fakes (128x128); `--images celeba` takes 2,000 real CelebA photos,
whose prime-factor sides (2x109, 2x89) are the slowest case for an FFT.

The reference (tests/reference/spectrum_reference.py) is the seed's loop: read,
fft2, fftshift, log magnitude, azimuthal average by sorting radii, griddata,
one image after another. genrec computes the same feature in batches through
joblib, as the stage does, on 1 core and on all cores, taking turns with the
reference round after round. Prints the three rates, the ratios and the
largest difference between the two features.

    python benchmarks/spectrum.py [--images celeba] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import tempfile
import time
from functools import partial
from pathlib import Path

import joblib
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pipeline.config import ComputeConfig  # noqa: E402
from pipeline.fake.spectrum import spectra_of_files  # noqa: E402
from pipeline.parallel import compute_backend, map_batches  # noqa: E402

from reference.spectrum_reference import spectrum_of_file  # noqa: E402


def mirror_folder(dataset: str, archive: str, folder: str) -> Path:
    """The data set's images under data/raw (after `dvc repro`), else extracted from the mirror."""
    local = REPO / "data" / "raw" / dataset / folder
    if local.is_dir():
        return local
    mirror = Path(os.environ.get("GENREC_DATA_MIRROR", REPO.parent / "shared" / "datasets"))
    target = Path(tempfile.mkdtemp(prefix="genrec-bench-"))
    with tarfile.open(mirror / archive) as tar:
        tar.extractall(target, filter="data")
    return target / folder


def benchmark_images(which: str) -> list[str]:
    real = sorted(
        str(p) for p in mirror_folder("celeba", "celeba/celeba-real-2000.tar.gz", "img_align_celeba").glob("*.jpg")
    )
    if which == "celeba":
        return real[:2000]
    fake = sorted(
        str(p) for p in mirror_folder("dcgan", "dcgan-celeba/dataset_celebA.tar.gz", "dataset_celebA").glob("*.jpg")
    )
    return real[:1000] + fake[:1000]


def genrec_spectra(paths: list[str], n_jobs: int, batch_size: int = 64) -> np.ndarray:
    work = partial(spectra_of_files, n_points=80)
    with compute_backend(ComputeConfig(backend="loky", n_jobs=n_jobs, batch_size=batch_size)):
        return np.concatenate([features for features, _ in map_batches(work, paths, batch_size, "genrec")])


def seconds(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", choices=["experiment", "celeba"], default="experiment")
    parser.add_argument("--rounds", type=int, default=3, help="rounds in which every method takes its turn")
    args = parser.parse_args()
    paths = benchmark_images(args.images)
    cores = joblib.cpu_count()
    print(f"{len(paths)} images ({args.images}), {cores} cores, {args.rounds} rounds")
    genrec_spectra(paths[:64], cores)  # start the worker pool: a one-time cost per stage, not per image
    # The machine is shared and its speed drifts, so the methods take turns in
    # every round: a slow spell slows all three alike.
    totals = {"reference": 0.0, "one": 0.0, "all": 0.0}
    round_ratios = []
    for _ in range(args.rounds):
        reference: list[np.ndarray] = []
        ref_s = seconds(lambda reference=reference: reference.extend(spectrum_of_file(p) for p in paths))
        one_s = seconds(lambda: genrec_spectra(paths, 1))
        fast: list[np.ndarray] = []
        all_s = seconds(lambda fast=fast: fast.append(genrec_spectra(paths, cores)))
        for key, value in zip(totals, (ref_s, one_s, all_s), strict=True):
            totals[key] += value
        round_ratios.append(ref_s / all_s)
    rates = {key: args.rounds * len(paths) / value for key, value in totals.items()}
    print(f"seed's per-image code (reference)  {rates['reference']:8.1f} images/s")
    print(f"genrec, 1 core                     {rates['one']:8.1f} images/s")
    print(f"genrec, {cores} cores                    {rates['all']:8.1f} images/s")
    print(
        f"throughput ratio ({cores} cores): {rates['all'] / rates['reference']:6.2f}x  (target >= 10; "
        f"rounds {', '.join(f'{ratio:.1f}' for ratio in round_ratios)})"
    )
    print(f"throughput ratio (1 core):   {rates['one'] / rates['reference']:6.2f}x")
    difference = np.max(np.abs(fast[0] - np.array(reference)))
    print(f"largest difference from the reference: {difference:.2e}  (target <= 1e-6)")


if __name__ == "__main__":
    main()
