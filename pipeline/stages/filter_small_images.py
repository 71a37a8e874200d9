"""DVC stage `filter-small-images`: the manifest of usable images, with drop reasons and the split.

The work is pipeline.data.manifest's: read every source, inspect each image, assign the split, count.
"""

from __future__ import annotations

from functools import partial

from pipeline.config import Config
from pipeline.data.manifest import KEPT, filter_counts, inspect_all, read_sources, with_split
from pipeline.figures import size_histogram_figure, size_histogram_table
from pipeline.io import write_parquet
from pipeline.project import FILTER_METRICS, IMAGE_SIZES, IMAGE_SIZES_FIGURE, MANIFEST, RAW
from pipeline.stages.common import log, run_stage
from pipeline.tracking.publish import publish_csv, publish_figure, publish_json
from pipeline.tracking.runs import StageRun


def filter_small_images(cfg: Config, run: StageRun) -> None:
    manifest = inspect_all(read_sources(cfg, RAW), cfg.filter, cfg.compute)
    manifest = with_split(manifest, cfg.filter.test_size, cfg.seed)
    write_parquet(MANIFEST, manifest)
    metrics = filter_counts(manifest)
    publish_json(run, FILTER_METRICS, metrics)
    for row in manifest[manifest["status"] != KEPT].itertuples():
        log.info("dropped %s: %s", row.path, row.status)

    decoded = manifest[manifest["width"] > 0]
    table = size_histogram_table(decoded)
    publish_csv(run, IMAGE_SIZES, table)
    publish_figure(run, IMAGE_SIZES_FIGURE, partial(size_histogram_figure, table, cfg.filter.min_size))

    run.log_metrics(metrics)
    log.info("kept %s; dropped %s", metrics["kept"], metrics["dropped"])


def main() -> None:
    run_stage("filter-small-images", ["seed", "datasets", "filter", "compute"], filter_small_images)


if __name__ == "__main__":
    main()
