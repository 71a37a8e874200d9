"""The generated tables of README.md and docs/ (pipeline/docs.py, `genrec report`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.docs import TABLES, render, rewrite, stale_tables
from pipeline.errors import GenrecError

ROOT = Path(__file__).resolve().parents[1]


def fake_render(name: str) -> str:
    if name != "demo":
        raise GenrecError(f"unknown table '{name}'")
    return "| a |\n| --- |\n| 1 |"


def test_committed_tables_equal_what_genrec_report_writes():
    assert stale_tables(ROOT) == {}, "run `genrec report` and commit README.md and docs/"


def test_every_table_renders_from_the_committed_metrics():
    for name in TABLES:
        assert render(name, ROOT / "metrics").startswith("|")


def test_readme_is_under_200_lines():
    assert len((ROOT / "README.md").read_text().splitlines()) < 200


def test_a_region_is_rewritten_and_the_text_outside_it_is_untouched():
    text = "intro\n<!-- genrec:table demo -->\nstale\n<!-- /genrec:table -->\noutro\n"
    new, changed = rewrite(text, fake_render)
    assert new == "intro\n<!-- genrec:table demo -->\n| a |\n| --- |\n| 1 |\n<!-- /genrec:table -->\noutro\n"
    assert changed == ["demo"]
    assert rewrite(new, fake_render) == (new, [])


def test_an_unclosed_marker_names_the_table_and_its_line():
    with pytest.raises(GenrecError, match=r"doc.md:2: table 'demo' is never closed"):
        rewrite("x\n<!-- genrec:table demo -->\n| a |\n", fake_render, "doc.md")


def test_a_marker_opened_inside_another_is_refused():
    text = "<!-- genrec:table demo -->\n<!-- genrec:table demo -->\n<!-- /genrec:table -->\n"
    with pytest.raises(GenrecError, match="opens inside table 'demo'"):
        rewrite(text, fake_render)


def test_a_close_without_open_and_a_malformed_marker_are_refused():
    with pytest.raises(GenrecError, match="closes no table"):
        rewrite("<!-- /genrec:table -->\n", fake_render)
    with pytest.raises(GenrecError, match="malformed marker"):
        rewrite("<!-- genrec:table -->\n", fake_render)


def test_an_unknown_table_name_is_a_clear_error():
    with pytest.raises(GenrecError, match=r"doc.md:1: unknown table 'nope': the known tables are .*gender-heldout"):
        rewrite(
            "<!-- genrec:table nope -->\n<!-- /genrec:table -->\n",
            lambda name: render(name, ROOT / "metrics"),
            "doc.md",
        )


def test_a_missing_metrics_file_names_it_and_the_command_that_writes_it(tmp_path):
    with pytest.raises(GenrecError, match=r"gender\.json is missing: `dvc repro` writes it"):
        render("gender-heldout", tmp_path)
