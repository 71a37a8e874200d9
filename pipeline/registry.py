"""The model registry drives serving: every new version is the `challenger`, the best one the `champion`.

The rule (also in the README, "Working as a team"):

    After grid-search registers a model version, that version gets the alias
    `challenger`. It also gets the alias `champion` when the model has no
    champion yet, or when both were measured on the same held-out set and its
    held-out accuracy (the stage's `test.accuracy`, as in metrics/<task>.json)
    is strictly higher than the current champion's, as recorded in the
    champion's own run. A tie keeps the champion. When the held-out sets
    differ (or the champion's is unknown), the figures are not compared and
    the champion stays: moving it is a person's call (set the alias by hand).

The held-out set is named by the run tags `genrec.heldout.digest` (sha256 of the
sorted held-out items: source, path, label) and `genrec.heldout.n`, which
grid-search sets from the rows it evaluates on. The decision is logged on the
grid-search run and on the model version (tags `genrec.registry.*`), with both
figures and both held-out sets, so the UI shows why a version serves.
`genrec serve` and `genrec predict` then load `models:/genrec-gender@champion`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

CHALLENGER = "challenger"
CHAMPION = "champion"
HELD_OUT_METRIC = "test.accuracy"  # the figure the stage reports for the held-out split
HELD_OUT_DIGEST_TAG = "genrec.heldout.digest"  # which held-out items that figure was measured on
HELD_OUT_N_TAG = "genrec.heldout.n"
RULE = (f"champion if {HELD_OUT_METRIC} > the champion's on the same held-out set "
        f"({HELD_OUT_DIGEST_TAG}); no champion: promote; other held-out set: keep the champion")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldOut:
    """A held-out set, by content: the sha256 of its sorted items and their number."""

    digest: str
    n: int

    def __str__(self) -> str:
        return f"{self.n} items, {self.digest[:12]}"

    def as_tags(self) -> dict[str, str]:
        return {HELD_OUT_DIGEST_TAG: self.digest, HELD_OUT_N_TAG: str(self.n)}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> HeldOut | None:
        """The held-out set a run recorded, or None for a run that recorded none."""
        if HELD_OUT_DIGEST_TAG not in tags or HELD_OUT_N_TAG not in tags:
            return None
        return cls(tags[HELD_OUT_DIGEST_TAG], int(tags[HELD_OUT_N_TAG]))


def held_out_set(items: Iterable[tuple[str, str, str]]) -> HeldOut:
    """The held-out set of these (source, path, label) items, whatever their order."""
    lines = sorted("\t".join(str(field) for field in item) for item in items)
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return HeldOut(digest, len(lines))


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
    data = client.get_run(run_id).data
    return Holder(version, data.metrics.get(HELD_OUT_METRIC), HeldOut.from_tags(data.tags))


def decide(model: str, challenger: Holder, champion: Holder | None) -> Decision:
    """The rule (module docstring): compare held-out figures only on the same held-out set."""
    version, score = challenger.version, challenger.score
    if champion is None:
        return Decision(model, version, score, None, None, score is not None,
                        "no champion yet" if score is not None else f"no {HELD_OUT_METRIC} to compare",
                        challenger.heldout, None, False)
    facts = dict(model=model, version=version, challenger_score=score, champion_version=champion.version,
                 champion_score=champion.score, challenger_heldout=challenger.heldout,
                 champion_heldout=champion.heldout)
    if challenger.heldout is None or champion.heldout is None or challenger.heldout != champion.heldout:
        return Decision(**facts, promoted=False, compared=False, reason=(
            f"held-out sets differ (challenger: {challenger.heldout or 'not recorded'}; champion v{champion.version}: "
            f"{champion.heldout or 'not recorded'}): {HELD_OUT_METRIC} {score} and {champion.score} not compared, "
            "the champion stays"))
    promoted = beats(score, champion.score)
    verb = "beats" if promoted else "does not beat"
    return Decision(**facts, promoted=promoted, compared=True,
                    reason=f"{HELD_OUT_METRIC} {score} {verb} champion v{champion.version}'s {champion.score}")


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
    log.info("%s v%s: %s -> %s", model, version, decision.reason,
             CHAMPION if decision.promoted else f"stays {CHALLENGER}")
    return decision
