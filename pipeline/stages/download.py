"""DVC stage `download`: every configured data set's archive, verified and extracted under data/raw/
(all of it, or the seeded subset of its images that download.subset asks for)."""

from __future__ import annotations

import os

from pipeline.config import Config
from pipeline.data.download import fetch_dataset
from pipeline.project import DOWNLOAD_METRICS, DOWNLOADS, RAW, resolve_from_root
from pipeline.stages.common import log, run_stage
from pipeline.tracking.publish import publish_json
from pipeline.tracking.runs import StageRun


def mirror_dir(configured: str | None):
    """$GENREC_DATA_MIRROR, else download.mirror; None when neither is set."""
    chosen = os.environ.get("GENREC_DATA_MIRROR") or configured
    return resolve_from_root(chosen) if chosen else None


def download(cfg: Config, run: StageRun) -> None:
    mirror = mirror_dir(cfg.download.mirror)
    files = {}
    subset = cfg.download.subset
    for source in cfg.datasets.values():
        folder, changed = fetch_dataset(
            source, RAW, mirror, DOWNLOADS, cfg.download.timeout_s, cfg.download.retries, subset
        )
        files[source.name] = sum(1 for path in folder.rglob("*") if path.is_file()) - 1  # less the marker
        log.info(
            "%s: %s (%d files%s)",
            source.name,
            "extracted" if changed else "already in place",
            files[source.name],
            f"; a subset of at most {subset.images} images, seed {subset.seed}" if subset else "",
        )
    metrics = {"files": files}
    publish_json(run, DOWNLOAD_METRICS, metrics)
    run.log_metrics(metrics)
    run.tags["genrec.mirror"] = str(mirror)


def main() -> None:
    run_stage("download", ["datasets", "download"], download)


if __name__ == "__main__":
    main()
