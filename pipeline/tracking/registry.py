"""The model registry drives serving: every new version is the `challenger`, the best one the `champion`.

The rule (also in docs/team.md, "The registry drives serving"):

    After grid-search registers a model version, that version gets the alias
    `challenger`. It also gets the alias `champion` when the model has no
    champion yet, or when both were measured on the same held-out set and its
    held-out accuracy (the stage's `test.accuracy`, as in metrics/<task>.json)
    is strictly higher than the current champion's, as recorded in the
    champion's own run. A tie keeps the champion. When the held-out sets
    differ (or the champion's is unknown), the figures are not compared and
    the champion stays: moving it is a person's call (set the alias by hand).

The held-out set is read from what the grid-search run already logs: the DVC
md5 of the data its held-out rows are drawn from (its lineage inputs
`data/raw`, the images, and `data/crops/faces.parquet`, the face table with
each face's split) and the held-out count of every source (`heldout.<source>.n`,
`n.test`). Same data and same counts: the same held-out faces. The decision is
logged on the grid-search run and on the model version (tags
`genrec.registry.*`), with both figures and both held-out sets, so the UI shows
why a version serves.
`genrec serve` and `genrec predict` then load `models:/genrec-gender@champion`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

CHALLENGER = "challenger"
CHAMPION = "champion"
HELD_OUT_METRIC = "test.accuracy"  # the figure the stage reports for the held-out split
HELD_OUT_DATA = ("data/crops/faces.parquet", "data/raw")  # the face table (with each face's split), the images
HELD_OUT_COUNT = "n.test"
log = logging.getLogger(__name__)
RULE = (
    f"champion if {HELD_OUT_METRIC} > the champion's on the same held-out set (same {', '.join(HELD_OUT_DATA)} "
    "and held-out counts per source); no champion: promote; another held-out set: keep the champion"
)


@dataclass(frozen=True)
class HeldOut:
    """A held-out set as its run recorded it: the data its rows come from (path, DVC md5), its counts per source."""

    data: tuple[tuple[str, str], ...]
    counts: tuple[tuple[str, int], ...]  # ("n.test", 3048), ("heldout.celeba.n", 382), ...

    def __str__(self) -> str:
        counts = dict(self.counts)
        sources = ", ".join(f"{name.split('.')[1]} {n}" for name, n in self.counts if name != HELD_OUT_COUNT)
        data = ", ".join(f"{path} {md5[:8]}" for path, md5 in self.data)
        return f"{counts[HELD_OUT_COUNT]} held out ({sources}) from {data}"


def held_out_set(metrics: Mapping[str, float], inputs: Mapping[str, str]) -> HeldOut | None:
    """The held-out set of a grid-search run, from its metrics and its input data (DVC path -> md5); None when
    the run did not record it (no held-out count, or its input data not logged)."""

    def is_count(name: str) -> bool:  # n.test, heldout.<source>.n
        return name == HELD_OUT_COUNT or (name.startswith("heldout.") and name.endswith(".n") and name.count(".") == 2)

    counts = {name: int(value) for name, value in metrics.items() if is_count(name)}
    if HELD_OUT_COUNT not in counts or any(path not in inputs for path in HELD_OUT_DATA):
        return None
    return HeldOut(tuple((path, inputs[path]) for path in HELD_OUT_DATA), tuple(sorted(counts.items())))


@dataclass(frozen=True)
class Decision:
    """What review_challenger decided for one new model version."""

    model: str
    version: str
    challenger_score: float | None
    champion_version: str | None
    champion_score: float | None
    promoted: bool
    reason: str
    challenger_heldout: HeldOut | None = None
    champion_heldout: HeldOut | None = None
    compared: bool = False  # both figures measured on the same held-out set and set side by side

    def as_tags(self) -> dict[str, str]:
        return {
            "genrec.registry.model": self.model,
            "genrec.registry.version": self.version,
            "genrec.registry.promoted": str(self.promoted).lower(),
            "genrec.registry.decision": self.reason,
            "genrec.registry.rule": RULE,
            "genrec.registry.compared": str(self.compared).lower(),
            "genrec.registry.challenger_score": str(self.challenger_score),
            "genrec.registry.challenger_heldout": str(self.challenger_heldout),
            "genrec.registry.champion_version": str(self.champion_version),
            "genrec.registry.champion_score": str(self.champion_score),
            "genrec.registry.champion_heldout": str(self.champion_heldout),
        }


def beats(challenger: float | None, champion: float | None) -> bool:
    """The promotion rule: strictly better held-out accuracy; any measured model beats no figure at all."""
    if challenger is None:
        return False
    return champion is None or challenger > champion


def current_champion(client, model: str):
    """The version holding the champion alias, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model, CHAMPION)
    except MlflowException:
        return None


def version_of_run(client, model: str, run_id: str) -> str:
    """The newest version of `model` logged by this run."""
    versions = client.search_model_versions(f"name='{model}' and run_id='{run_id}'")
    if not versions:
        raise LookupError(f"run {run_id} registered no version of {model}")
    return str(max(int(version.version) for version in versions))


@dataclass(frozen=True)
class Holder:
    """A model version in the contest: its version, held-out score and the held-out set it was measured on."""

    version: str
    score: float | None
    heldout: HeldOut | None = None


def holder_of_run(client, version: str, run_id: str) -> Holder:
    """A version's held-out score and held-out set, as its grid-search run recorded them."""
    run = client.get_run(run_id)
    inputs = {item.dataset.name: item.dataset.digest for item in run.inputs.dataset_inputs}
    return Holder(version, run.data.metrics.get(HELD_OUT_METRIC), held_out_set(run.data.metrics, inputs))


def decide(model: str, challenger: Holder, champion: Holder | None) -> Decision:
    """The rule (module docstring): compare held-out figures only on the same held-out set."""
    version, score = challenger.version, challenger.score
    if champion is None:
        return Decision(
            model,
            version,
            score,
            None,
            None,
            score is not None,
            "no champion yet" if score is not None else f"no {HELD_OUT_METRIC} to compare",
            challenger.heldout,
            None,
            False,
        )
    facts = dict(
        model=model,
        version=version,
        challenger_score=score,
        champion_version=champion.version,
        champion_score=champion.score,
        challenger_heldout=challenger.heldout,
        champion_heldout=champion.heldout,
    )
    if challenger.heldout is None or champion.heldout is None or challenger.heldout != champion.heldout:
        return Decision(
            **facts,
            promoted=False,
            compared=False,
            reason=(
                f"held-out sets differ (challenger: {challenger.heldout or 'not recorded'}; "
                f"champion v{champion.version}: {champion.heldout or 'not recorded'}): "
                f"{HELD_OUT_METRIC} {score} and {champion.score} not compared, the champion stays"
            ),
        )
    promoted = beats(score, champion.score)
    verb = "beats" if promoted else "does not beat"
    return Decision(
        **facts,
        promoted=promoted,
        compared=True,
        reason=f"{HELD_OUT_METRIC} {score} {verb} champion v{champion.version}'s {champion.score}",
    )


def review_challenger(model: str) -> Decision:
    """Inside the grid-search run, right after it registered `model`: set the aliases by the rule, log why."""
    import mlflow

    client = mlflow.MlflowClient()
    run_id = mlflow.active_run().info.run_id
    version = version_of_run(client, model, run_id)
    client.set_registered_model_alias(model, CHALLENGER, version)
    previous = current_champion(client, model)
    champion = holder_of_run(client, str(previous.version), previous.run_id) if previous else None
    decision = decide(model, holder_of_run(client, version, run_id), champion)
    if decision.promoted:
        client.set_registered_model_alias(model, CHAMPION, version)
    mlflow.set_tags(decision.as_tags())
    for key, value in decision.as_tags().items():
        client.set_model_version_tag(model, version, key, value)
    log.info(
        "%s v%s: %s -> %s", model, version, decision.reason, CHAMPION if decision.promoted else f"stays {CHALLENGER}"
    )
    return decision


def version_of(model: str, sha256: str) -> str:
    """The registry version of `model` whose run logged the model file with this sha256, or 'unregistered'."""
    import mlflow

    from pipeline.tracking.runs import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    client = mlflow.MlflowClient()
    for version in client.search_model_versions(f"name='{model}'"):
        if client.get_run(version.run_id).data.tags.get("genrec.model_sha256") == sha256:
            return str(version.version)
    return "unregistered"
