"""DVC stage `haar-crop`: the largest face of every kept image, as one array of grayscale crops.

The work is pipeline.faces.haar_crop's; the detector is pipeline.faces.detection's, the face normalization
pipeline.faces.crops'.
"""

from __future__ import annotations

from functools import partial

import pandas as pd

from pipeline.config import Config
from pipeline.data.manifest import kept_images
from pipeline.faces.haar_crop import crop_all, detection_metrics, sample_sheet
from pipeline.io import write_parquet
from pipeline.project import CROP_METRICS, CROPS, FACE_CROPS_FIGURE, FACES, MANIFEST, require
from pipeline.stages.common import StageError, log, run_stage
from pipeline.tracking.publish import publish_figure, publish_json
from pipeline.tracking.runs import StageRun


def haar_crop(cfg: Config, run: StageRun) -> None:
    faces = kept_images(pd.read_parquet(require(MANIFEST))).reset_index(drop=True)
    if faces.empty:
        raise StageError(f"{MANIFEST} lists no kept images: check filter.datasets and rerun filter-small-images")
    faces = crop_all(faces, cfg, CROPS)
    write_parquet(FACES, faces)
    metrics = detection_metrics(faces)
    publish_json(run, CROP_METRICS, metrics)
    publish_figure(run, FACE_CROPS_FIGURE, partial(sample_sheet, faces, CROPS, cfg.crop.sample_sheet, cfg.seed))
    run.log_metrics(metrics)
    log.info("detection rate %s", metrics["detection_rate"])


def main() -> None:
    run_stage("haar-crop", ["seed", "crop", "compute"], haar_crop)


if __name__ == "__main__":
    main()
