"""The result tables of README.md and docs/*.md, written from metrics/ (`genrec report`).

A document marks each generated table with two comment lines:

    <!-- genrec:table gender-heldout -->
    ...whatever `genrec report` last wrote...
    <!-- /genrec:table -->

`genrec report` rewrites what lies between them from the metrics file the table reads (TABLES);
`genrec report --check` writes nothing and fails naming every file and table that differs.
Standard library only, so the docs can be checked without the pipeline's dependencies.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path, PurePosixPath

from pipeline.errors import GenrecError

OPEN = re.compile(r"^<!-- genrec:table (?P<name>[a-z0-9-]+) -->$")
CLOSE = "<!-- /genrec:table -->"
TABLE_MARKER = "genrec:table"

SOURCES = {
    "celeba": "CelebA",
    "celeba_hq": "CelebA-HQ",
    "dcgan": "DCGAN",
    "fairface": "FairFace",
    "lfw": "LFW",
    "stylegan2": "StyleGAN2",
    "t2i_sfhq": "SDXL, FLUX.1 (SFHQ-T2I)",
    "utkface": "UTKFace",
    "videos": "real video frames",
}


# Formatting: percent with one decimal, gaps in percentage points, counts as integers with thousands separators.


def pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def points(gap: float) -> str:
    return f"{gap:.1f} pt"


def count(n: float) -> str:
    return f"{round(n):,}"


def source(name: str) -> str:
    return SOURCES.get(name, name)


def with_interval(shown: str, interval: list[float] | None) -> str:
    """A shown share or gap and its 95% interval in percent, `91.0% (88.2-93.8)`; as shown where none was recorded."""
    return f"{shown} ({100 * interval[0]:.1f}-{100 * interval[1]:.1f})" if interval else shown


def of(share: float, n: int) -> str:
    """A rate with the counts it comes from: `1.8% (7 of 400)`."""
    return f"{pct(share)} ({count(share * n)} of {count(n)})"


def markdown_table(header: list[str], rows: list[list[str]], right: int = 1) -> str:
    """A markdown table whose columns from `right` on are right-aligned (the numbers)."""
    align = ["---" if i < right else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


# Reading metrics/: a missing file names itself and the command that writes it.


def metrics_path(metrics: Path, name: str) -> Path:
    path = metrics / name
    if not path.is_file():
        raise GenrecError(f"{path} is missing: `dvc repro` writes it (then run `genrec report` again)")
    return path


def read_json(metrics: Path, name: str) -> dict:
    return json.loads(metrics_path(metrics, name).read_text())


def read_csv(metrics: Path, name: str) -> list[dict[str, str]]:
    with metrics_path(metrics, name).open(newline="") as file:
        return list(csv.DictReader(file))


# The tables: each reads one metrics file and returns markdown.


# Every table by the name a document gives it (`<!-- genrec:table NAME -->`): a function of the metrics folder.
TABLES: dict[str, Callable[[Path], str]] = {}


def table(function=None, *, name: str | None = None):
    """Register a table function under `name`, by default its own name dashed (gender_heldout -> gender-heldout)."""

    def register(function):
        TABLES[name or function.__name__.replace("_", "-")] = function
        return function

    return register(function) if function else register


@table
def gender_heldout(metrics: Path) -> str:
    """Held-out accuracy of the gender model per source, with its leave-one-out refit."""
    data = read_json(metrics, "gender.json")
    loo = data.get("leave_one_out", {})
    header = [
        "held-out part",
        "images",
        "face found",
        "faces",
        "accuracy (95% interval)",
        "balanced",
        "trained without it",
    ]
    rows = [
        [
            source(name),
            count(part["images"]),
            pct(part["detection_rate"]),
            count(part["n"]),
            f"**{with_interval(pct(part['accuracy']), part.get('accuracy_ci95'))}**",
            pct(part["balanced_accuracy"]),
            with_interval(pct(loo[name]["accuracy"]), loo[name].get("accuracy_ci95")) if name in loo else "",
        ]
        for name, part in data["heldout"].items()
    ]
    return markdown_table(header, rows)


@table
def gender_groups(metrics: Path) -> str:
    """Held-out accuracy per ethnic group, and the gap between the best and worst group."""
    data = read_json(metrics, "gender.json")
    rows = [
        [
            source(name),
            ", ".join(f"{group} {pct(accuracy)}" for group, accuracy in part["accuracy_by_group"].items()),
            with_interval(points(100 * part["accuracy_gap"]), part.get("accuracy_gap_ci95")),
        ]
        for name, part in data["heldout"].items()
        if part.get("accuracy_by_group")
    ]
    return markdown_table(["held-out part", "accuracy per ethnic group", "gap (95% interval)"], rows, right=2)


def fit_table(metrics: Path, name: str) -> str:
    """Train and held-out accuracy, balanced accuracy and ROC AUC of a task's model."""
    data = read_json(metrics, name)
    rows = [
        [
            split,
            count(data["n"][key]),
            pct(data[key]["accuracy"]),
            pct(data[key]["balanced_accuracy"]),
            f"{data[key]['roc_auc']:.5f}",
        ]
        for split, key in (("training rows", "train"), ("held-out rows, every source", "test"))
    ]
    return markdown_table(["rows", "n", "accuracy", "balanced", "ROC AUC"], rows)


def search_table(metrics: Path, name: str) -> str:
    """The candidates' CV and held-out scores, and the parameters refitted."""
    data = read_json(metrics, name)
    cv = data["cv"]
    rows = [
        [f"**{family}**" if family == cv["best_candidate"] else family, pct(c["cv_score"]), pct(c["test_accuracy"])]
        for family, c in data["candidates"].items()
    ]
    params = ", ".join(f"{key}={value}" for key, value in cv["best_params"].items())
    caption = (
        f"Chosen: {cv['best_candidate']} ({params}); {cv['strategy']} search on {count(cv['searched_rows'])} rows."
    )
    return markdown_table(["candidate", "CV accuracy", "held-out accuracy"], rows) + "\n\n" + caption


@table
def gender_training(metrics: Path) -> str:
    """The gender task's training faces per source, and the feature chain fitted on them."""
    data = read_json(metrics, "eigen.json")
    rows = [[source(name), count(n)] for name, n in data["train_by_source"].items()]
    rows.append(["**all**", f"**{count(sum(data['train_by_source'].values()))}**"])
    roles = ", ".join(f"{role} {count(n)}" for role, n in data["faces"].items())
    caption = (
        f"Faces by role: {roles}. Feature blocks: {' + '.join(data['blocks'])}; {data['n_components']} principal "
        f"components ({pct(data['explained_variance'])} of the variance), {count(data['n_features'])} features."
    )
    return markdown_table(["source", "training faces"], rows) + "\n\n" + caption


@table
def fake_heldout(metrics: Path) -> str:
    """Per held-out source: the share called fake (false alarms, or generated faces caught), and leave-one-out."""
    data = read_json(metrics, "fake.json")
    loo = data.get("leave_one_out", {})

    def called_fake(part: dict) -> str:
        rate = part["false_alarm_rate"] if part["class"] == "real" else part["detection_rate"]
        return of(rate, part["n"])

    def auc(name: str) -> str:
        return f"{loo[name]['roc_auc']:.3f}" if "roc_auc" in loo.get(name, {}) else ""

    def at_rate(name: str) -> str:
        part = loo.get(name, {}).get("at_false_alarm_rate")
        return of(part["detection_rate"], loo[name]["n"]) if part else ""

    rows = [
        [
            source(name),
            part["class"],
            called_fake(part),
            called_fake(loo[name]) if "class" in loo.get(name, {}) else "",
            auc(name),
            at_rate(name),
        ]
        for name, part in data["heldout"].items()
    ]
    verdict = data.get("verdict")
    rate = pct(verdict["false_alarm_rate"]) if verdict else "1%"
    header = ["held-out source", "class", "called fake", "trained without it", "its ROC AUC", f"caught at {rate} CV"]
    table_text = markdown_table(header, rows, right=2)
    if verdict:
        table_text += (
            f"\n\nCalled fake: p(fake) above {verdict['threshold']:.4f}, the threshold that gave at most "
            f"{pct(verdict['false_alarm_rate'])} false alarms on every real source in the training rows' "
            "cross-validation. Trained without it: the refit's own decision; its ROC AUC against the other class's "
            f"held-out rows; caught at {rate} CV: at the threshold from the refit's own training CV."
        )
    return table_text


@table
def fake_robustness(metrics: Path) -> str:
    """Per named step and held-out source: the share called fake by the served verdict; in brackets the share
    it cannot tell (no patch left, or too little fine detail)."""
    data = read_json(metrics, "fake.json")
    robustness = data.get("robustness") or {}
    sources = list(data["heldout"])
    shown = [name for name in sources if any(name in by_source for by_source in robustness.values())]

    def cell(part: dict | None) -> str:
        if part is None:
            return ""
        rate = part.get("detection_rate", part.get("false_alarm_rate"))
        unsure = f" ({pct(part['cannot_tell'])})" if part.get("cannot_tell") else ""
        return f"{pct(rate)}{unsure}"

    as_is = ["as they are", *(cell(data["heldout"].get(name)) for name in shown)]
    rows = [as_is] + [[step, *(cell(by_source.get(name)) for name in shown)] for step, by_source in robustness.items()]
    return markdown_table(["step", *(source(name) for name in shown)], rows)


@table
def fake_clips(metrics: Path) -> str:
    """Each real clip whose frames are training rows, scored by a model refitted without them."""
    data = read_json(metrics, "fake.json")
    rows = [
        [clip, part["class"], of(part["false_alarm_rate"], part["n"])]
        for clip, part in data["leave_one_clip_out"].items()
    ]
    return markdown_table(["clip left out", "class", "frames called fake"], rows, right=2)


def clip_name(path: str) -> str:
    """`.../manipulated_sequences/FaceSwap/c23/videos/634_660.mp4` -> `FF++ 634_660 (FaceSwap)`."""
    parts = PurePosixPath(path).parts
    stem = PurePosixPath(path).stem
    if "manipulated_sequences" in parts:
        return f"FF++ {stem} ({parts[parts.index('manipulated_sequences') + 1]})"
    if "original_sequences" in parts:
        return f"FF++ {stem} (original)"
    if "dfdc" in parts:
        return f"DFDC {stem}"
    return stem


@table
def fake_videos(metrics: Path) -> str:
    """The labelled videos, per clip: the fake detector's mean and vote over the frames' largest faces."""
    data = read_json(metrics, "fake_videos.json")
    rows = [
        [
            clip_name(video["path"]),
            video["label"],
            video["predicted_mean"],
            "yes" if video["scene_in_training"] else "no",
            count(video["frames_with_face"]),
            pct(video["fake_probability_mean"]),
            f"{count(video['fake_vote_share'] * video['frames_with_face'])} of {count(video['frames_with_face'])}",
        ]
        for video in data["videos"]
    ]
    header = ["clip", "label", "called", "scene trained", "frames with a face", "mean p(fake)", "frames called fake"]
    return markdown_table(header, rows, right=4)


@table
def fake_videos_summary(metrics: Path) -> str:
    """The labelled videos together, and those whose scene was never trained on."""
    summary = read_json(metrics, "fake_videos.json")["summary"]
    rows = [
        [
            label,
            count(part["videos"]),
            count(part["real_videos"]),
            pct(part["accuracy_mean"]),
            count(part["real_videos_called_fake"]),
        ]
        for label, part in (("every labelled video", summary), ("scene not in training", summary["not_in_training"]))
    ]
    header = ["videos", "n", "real", "right (mean p(fake) >= 0.5 is fake)", "real called fake"]
    return markdown_table(header, rows)


@table
def gender_videos(metrics: Path) -> str:
    """The gender model on the labelled videos: how many have a known gender, and how many it gets right."""
    summary = read_json(metrics, "gender_videos.json")["summary"]
    row = [
        count(summary["videos"]),
        count(summary["scored"]),
        count(summary["without_face"]),
        f"{pct(summary['accuracy'])} ({count(summary['accuracy'] * summary['scored'])} of {count(summary['scored'])})",
    ]
    return markdown_table(["videos", "with a labelled gender, scored", "without a face", "right"], [row], right=0)


@table
def detection(metrics: Path) -> str:
    """haar-crop per source: images with a face found, the share only the CNN fallback found, several faces."""
    data = read_json(metrics, "haar_crop.json")
    rows = [
        [
            source(name),
            count(n),
            pct(data["detection_rate"][name]),
            pct(data["found_by_fallback"][name]),
            count(data["multiple_faces"][name]),
            count(data["unreadable"][name]),
        ]
        for name, n in data["images"].items()
    ]
    header = ["source", "images", "face found", "found by the CNN fallback", "several faces", "unreadable"]
    return markdown_table(header, rows)


@table
def detection_groups(metrics: Path) -> str:
    """haar-crop's detection rate per labelled ethnic group and gender."""
    data = read_json(metrics, "haar_crop.json")

    def listed(rates: dict) -> str:
        return ", ".join(f"{group} {pct(rate)}" for group, rate in rates.items())

    rows = [
        [source(name), listed(groups["ethnicity"]), listed(groups["gender"])]
        for name, groups in data["detection_rate_by_group"].items()
        if groups["ethnicity"] or groups["gender"]
    ]
    return markdown_table(["source", "face found, per ethnic group", "per gender"], rows, right=3)


@table
def spectrum_inputs(metrics: Path) -> str:
    """extract-spectrum: the images per class, and per source those without a face (so no score)."""
    data = read_json(metrics, "spectrum.json")
    rows = [[source(name), count(n)] for name, n in data["without_input"].items()]
    caption = (
        f"Rows: {count(data['images']['real'])} real and {count(data['images']['fake'])} generated images "
        f"(input `{data['input']}`, {data['side']} px)."
    )
    return markdown_table(["source", "images without a face found"], rows) + "\n\n" + caption


@table(name="data")
def data_counts(metrics: Path) -> str:
    """filter-small-images per source: images kept, dropped, and the train/test split."""
    data = read_json(metrics, "filter.json")
    rows = [
        [
            source(name),
            count(data["kept"][name]),
            count(total - data["kept"][name]),
            count(data["split"].get(f"{name}.train", 0)),
            count(data["split"].get(f"{name}.test", 0)),
        ]
        for name, total in data["total"].items()
    ]
    return markdown_table(["source", "kept", "dropped", "train", "test"], rows)


def cells_table(metrics: Path, name: str) -> str:
    """Table 1 or 2: per ethnicity x gender, n, the confidence's mean and standard deviation, accuracy."""
    rows = [
        [
            row["ethnicity"],
            row["gender"],
            count(int(row["n"])),
            f"{float(row['confidence_mean']):.1f}%",
            f"{float(row['confidence_std']):.1f}%",
            pct(float(row["accuracy"])),
        ]
        for row in read_csv(metrics, name)
    ]
    return markdown_table(["ethnicity", "gender", "n", "confidence mean", "confidence std", "accuracy"], rows, right=2)


@table
def tables_summary(metrics: Path) -> str:
    """Tables 1 and 2 in one line each: the set, items scored, and the largest gaps between cells."""
    data = read_json(metrics, "evaluation.json")

    def gap(table: dict, key: str, scale: float) -> str:
        g = table["largest_gap"][key]
        return f"{points(scale * g['gap'])} ({g['lowest']} to {g['highest']})"

    rows = [
        [
            label,
            f"`{table['source']}`",
            count(table["scored"]),
            count(table["no_face"]),
            gap(table, "accuracy", 100),
            gap(table, "confidence_mean", 1),
        ]
        for label, table in (("Table 1 (real faces)", data["table1"]), ("Table 2 (fake faces)", data["table2"]))
    ]
    header = ["table", "set", "scored", "no face", "largest accuracy gap", "largest confidence gap"]
    return markdown_table(header, rows, right=2)


# `<!-- genrec:table NAME -->` in a document: these six share their function with another table.
TABLES.update(
    {
        "gender-fit": partial(fit_table, name="gender.json"),
        "gender-search": partial(search_table, name="gender.json"),
        "fake-fit": partial(fit_table, name="fake.json"),
        "fake-search": partial(search_table, name="fake.json"),
        "table1": partial(cells_table, name="table1.csv"),
        "table2": partial(cells_table, name="table2.csv"),
    }
)


def render(name: str, metrics: Path) -> str:
    if name not in TABLES:
        raise GenrecError(f"unknown table '{name}': the known tables are {', '.join(sorted(TABLES))}")
    return TABLES[name](metrics)


# Rewriting the regions of a document.


def rewrite(text: str, render_table: Callable[[str], str], where: str = "text") -> tuple[str, list[str]]:
    """`text` with every generated region rewritten by render_table(name), and the names of those that changed.

    Text outside the regions is returned as it was. `where` names the document in errors.
    """
    lines = text.split("\n")
    out: list[str] = []
    changed: list[str] = []
    name, opened, body = None, 0, []
    for number, line in enumerate(lines, start=1):
        match = OPEN.match(line.strip())
        if match and name is not None:
            raise GenrecError(
                f"{where}:{number}: table '{match['name']}' opens inside table '{name}' (line {opened}): "
                f"close that one first with {CLOSE}"
            )
        if match:
            name, opened, body = match["name"], number, []
            out.append(line)
        elif line.strip() == CLOSE:
            if name is None:
                raise GenrecError(f"{where}:{number}: {CLOSE} closes no table")
            try:
                new = render_table(name).strip("\n").split("\n")
            except GenrecError as error:
                raise GenrecError(f"{where}:{opened}: {error}") from error
            if new != body:
                changed.append(name)
            out.extend(new)
            out.append(line)
            name = None
        elif TABLE_MARKER in line and line.strip().startswith("<!--"):
            raise GenrecError(f"{where}:{number}: malformed marker {line.strip()!r}: write <!-- genrec:table NAME -->")
        elif name is not None:
            body.append(line)
        else:
            out.append(line)
    if name is not None:
        raise GenrecError(f"{where}:{opened}: table '{name}' is never closed: add {CLOSE} after it")
    return "\n".join(out), changed


def documents(root: Path) -> list[Path]:
    """README.md and docs/*.md."""
    readme = root / "README.md"
    if not readme.is_file():
        raise GenrecError(f"no README.md in {root}: run `genrec report` from the repository's root")
    return [readme, *sorted((root / "docs").glob("*.md"))]


def stale_tables(root: Path, write: bool = False) -> dict[str, list[str]]:
    """Per document (relative to root), the tables that differ from metrics/; with write, rewrite them."""
    stale = {}
    for path in documents(root):
        where = path.relative_to(root).as_posix()
        text, changed = rewrite(path.read_text(), lambda name: render(name, root / "metrics"), where)
        if changed:
            stale[where] = changed
            if write:
                path.write_text(text)
    return stale


def report(root: Path, check: bool = False) -> int:
    """`genrec report`: rewrite the tables; with check, write nothing and fail on any that differ."""
    stale = stale_tables(root, write=not check)
    listed = "; ".join(f"{where} ({', '.join(names)})" for where, names in stale.items())
    if check and stale:
        raise GenrecError(f"tables differ from metrics/ in {listed}: run `genrec report`")
    print(f"rewrote {listed}" if stale else "every table matches metrics/")
    return 0
