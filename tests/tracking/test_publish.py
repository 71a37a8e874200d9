"""pipeline.tracking.publish: a stage's file is written and logged to its MLflow run in one call."""

from __future__ import annotations

import pandas as pd

from pipeline.tracking.publish import publish_csv, publish_figure, publish_json, publish_text
from pipeline.tracking.runs import StageRun


def test_publish_writes_the_file_and_logs_that_very_file(tmp_path):
    run = StageRun("test")
    publish_json(run, tmp_path / "m.json", {"b": 1, "a": 0.5})
    publish_csv(run, tmp_path / "p.csv", pd.DataFrame({"x": [1, 2]}))
    publish_text(run, tmp_path / "t.md", "# title\n")
    publish_figure(run, tmp_path / "f.png", lambda path: path.write_bytes(b"\x89PNG"))
    assert (tmp_path / "m.json").read_text() == '{\n  "a": 0.5,\n  "b": 1\n}\n'
    assert (tmp_path / "p.csv").read_text() == "x\n1\n2\n"
    assert (tmp_path / "t.md").read_text() == "# title\n"
    assert [path.name for path, _ in run.artifacts] == ["m.json", "p.csv", "t.md", "f.png"]
