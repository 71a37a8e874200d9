"""DVC stage `extract-spectrum`: the detector's spectra of every real and fake image (or face crop), and of the
frames of the real labelled videos.

The rows, the extraction per input kind and the summaries are in pipeline.fake.training_set.
"""

from __future__ import annotations

from functools import partial

import pandas as pd

from pipeline.config import Config
from pipeline.data.manifest import kept_images
from pipeline.fake.spectrum import detector_columns, feature_columns
from pipeline.fake.training_set import (
    processing_counts,
    profile_plot_data,
    sample_rows,
    spectra_of_rows,
    spectrum_counts,
    spectrum_table,
    video_frame_counts,
    video_frame_table,
    with_processing,
)
from pipeline.figures import spectrum_figure
from pipeline.io import write_parquet
from pipeline.parallel import compute_backend
from pipeline.project import (
    CROPS,
    FACES,
    MANIFEST,
    RAW,
    SPECTRUM,
    SPECTRUM_FIGURE,
    SPECTRUM_METRICS,
    SPECTRUM_PROFILES,
    require,
)
from pipeline.stages.common import log, run_stage
from pipeline.tracking.publish import publish_csv, publish_figure, publish_json
from pipeline.tracking.runs import StageRun


def labelled_rows(cfg: Config) -> pd.DataFrame:
    """The images to take spectra of: the manifest's (whole images) or haar-crop's (faces), sampled."""
    if cfg.spectrum.input == "image":
        return sample_rows(kept_images(pd.read_parquet(require(MANIFEST))), cfg)
    return sample_rows(pd.read_parquet(require(FACES)), cfg)


def extract_spectrum(cfg: Config, run: StageRun) -> None:
    rows, chains = with_processing(labelled_rows(cfg), cfg)
    columns = detector_columns(cfg.spectrum)
    with compute_backend(cfg.compute):
        features = spectra_of_rows(rows, cfg, CROPS, chains)
    table = spectrum_table(rows, features, columns)
    skipped_videos = {}
    if cfg.spectrum.video_frames:
        frames, skipped_videos = video_frame_table(cfg, RAW, columns)
        table = pd.concat([table, frames], ignore_index=True)
    write_parquet(SPECTRUM, table)

    # The seed's picture: each class's spectrum of the images as they are.
    as_is = table["has_input"] & (table["processing"] == "")
    profiles = profile_plot_data(table[as_is], feature_columns(cfg.spectrum.n_points))
    publish_csv(run, SPECTRUM_PROFILES, profiles)
    publish_figure(run, SPECTRUM_FIGURE, partial(spectrum_figure, profiles))
    metrics = {
        **spectrum_counts(table),
        "processing": processing_counts(table),
        "input": cfg.spectrum.input,
        "side": cfg.spectrum.side,
    }
    if cfg.spectrum.video_frames:
        metrics["video_frames"] = video_frame_counts(table, cfg.spectrum.videos.dataset, skipped_videos)
    publish_json(run, SPECTRUM_METRICS, metrics)
    run.log_metrics({"images": metrics["images"], "without_input": metrics["without_input"]})
    log.info("spectra of %s images; without input %s", metrics["images"], metrics["without_input"])


def main() -> None:
    run_stage("extract-spectrum", ["seed", "datasets", "spectrum", "crop", "compute"], extract_spectrum)


if __name__ == "__main__":
    main()
