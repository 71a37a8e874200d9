"""What every stage does around its own work: config, logging, MLflow, clear failures.

The paths every stage reads and writes are declared in pipeline.project.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pipeline.config import Config, load_config
from pipeline.errors import GenrecError, StageError
from pipeline.tracking.runs import StageRun, stage_run

log = logging.getLogger("genrec")

__all__ = ["StageError", "log", "run_stage"]


def run_stage(name: str, sections: list[str], body: Callable[[Config, StageRun], None]) -> None:
    """Load params.yaml, run `body` inside one MLflow run, turn known failures into one sentence."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config()
        params = {section: cfg.section_dump(section) for section in sections}  # as validated
        with stage_run(name, params) as run:
            run.tags["genrec.experiment"] = cfg.experiment_name
            body(cfg, run)
    except (GenrecError, FileNotFoundError) as error:
        log.error("%s failed: %s", name, error)
        sys.exit(1)
