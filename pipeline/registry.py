"""The model registry drives serving: every new version is the `challenger`, the best one the `champion`.

The rule (also in the README, "Working as a team"):

    After grid-search registers a model version, that version gets the alias
    `challenger`. It also gets the alias `champion` when the model has no
    champion yet, or when its held-out accuracy (the stage's `test.accuracy`,
    as in metrics/<task>.json) is strictly higher than the current champion's,
    as recorded in the champion's own run. A tie keeps the champion.

The decision is logged on the grid-search run and on the model version (tags
`genrec.registry.*`), with both figures, so the UI shows why a version serves.
`genrec serve` and `genrec predict` then load `models:/genrec-gender@champion`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

CHALLENGER = "challenger"
CHAMPION = "champion"
HELD_OUT_METRIC = "test.accuracy"  # the figure the stage reports for the held-out split

log = logging.getLogger(__name__)


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

    def as_tags(self) -> dict[str, str]:
        return {
            "genrec.registry.model": self.model,
            "genrec.registry.version": self.version,
            "genrec.registry.promoted": str(self.promoted).lower(),
            "genrec.registry.decision": self.reason,
            "genrec.registry.rule": f"champion if {HELD_OUT_METRIC} > the champion's (no champion: promote)",
            "genrec.registry.challenger_score": str(self.challenger_score),
            "genrec.registry.champion_version": str(self.champion_version),
            "genrec.registry.champion_score": str(self.champion_score),
        }


def beats(challenger: float | None, champion: float | None) -> bool:
    """The promotion rule: strictly better held-out accuracy; any measured model beats no figure at all."""
    if challenger is None:
        return False
    return champion is None or challenger > champion


def held_out_score(client, run_id: str) -> float | None:
    return client.get_run(run_id).data.metrics.get(HELD_OUT_METRIC)


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
    """The current champion: its version and held-out score."""

    version: str
    score: float | None


def decide(model: str, version: str, challenger_score: float | None, champion: Holder | None) -> Decision:
    if champion is None:
        return Decision(
            model,
            version,
            challenger_score,
            None,
            None,
            challenger_score is not None,
            "no champion yet" if challenger_score is not None else f"no {HELD_OUT_METRIC} to compare",
        )
    champion_score = champion.score
    promoted = beats(challenger_score, champion_score)
    verb = "beats" if promoted else "does not beat"
    return Decision(
        model,
        version,
        challenger_score,
        champion.version,
        champion_score,
        promoted,
        f"{HELD_OUT_METRIC} {challenger_score} {verb} champion v{champion.version}'s {champion_score}",
    )


def review_challenger(model: str) -> Decision:
    """Inside the grid-search run, right after it registered `model`: set the aliases by the rule, log why."""
    import mlflow

    client = mlflow.MlflowClient()
    run_id = mlflow.active_run().info.run_id
    version = version_of_run(client, model, run_id)
    client.set_registered_model_alias(model, CHALLENGER, version)
    previous = current_champion(client, model)
    champion = Holder(str(previous.version), held_out_score(client, previous.run_id)) if previous else None
    decision = decide(model, version, held_out_score(client, run_id), champion)
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

    from pipeline.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    client = mlflow.MlflowClient()
    for version in client.search_model_versions(f"name='{model}'"):
        if client.get_run(version.run_id).data.tags.get("genrec.model_sha256") == sha256:
            return str(version.version)
    return "unregistered"
