"""A face's fake score as one of three answers, each with its reason, never more than was validated.

- traces of a generator found: p(fake) above the threshold that gave at most `false_alarm_rate` false alarms
  on every real source of the training rows' cross-validation (grid-search@fake, spectrum.verdict);
- no traces of the generators it was validated on: below it. Never "real": a generator the model never saw, or
  processing it was not trained for, leaves a face here too;
- cannot tell: the face is outside what the model was validated on, so its score means nothing: the image is
  smaller than the detector's patch, or the patch holds less fine detail than all but `range_quantile` of the
  training rows (an upscaled, blurred or heavily compressed face, whose spectrum has lost what the model reads).

The rules travel in the model's record (`verdict`), so the stage, `genrec predict` and the web app judge alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GENERATOR_TRACES = "generator_traces"
NO_KNOWN_TRACES = "no_known_traces"
CANNOT_TELL = "cannot_tell"
VERDICTS = (GENERATOR_TRACES, NO_KNOWN_TRACES, CANNOT_TELL)
# What a person reads for each verdict (the reason follows).
HEADLINES = {
    GENERATOR_TRACES: "traces of a generator found",
    NO_KNOWN_TRACES: "no traces of the generators it was validated on",
    CANNOT_TELL: "cannot tell",
}
# A model recorded before the verdict existed decided at p >= 0.5 and had no input range.
LEGACY_THRESHOLD = 0.5


def high_frequency(profile: np.ndarray) -> np.ndarray:
    """The fine detail a patch holds: the mean of the last quarter of its 1D power spectrum (the seed's
    profile, normalized by its first ring), one value per row. Upscaling, blur and strong JPEG lower it."""
    profile = np.atleast_2d(profile)
    return profile[:, -max(1, profile.shape[1] // 4) :].mean(axis=1)


@dataclass(frozen=True)
class Verdict:
    kind: str  # one of VERDICTS
    reason: str

    @property
    def headline(self) -> str:
        return HEADLINES[self.kind]


@dataclass(frozen=True)
class VerdictRules:
    """The threshold and input range a fake model was validated with, and what it was validated on."""

    threshold: float
    false_alarm_rate: float | None
    generators: tuple[str, ...]
    min_high_frequency: float | None  # None: no input range recorded
    side: int | None  # the detector's patch side

    def as_record(self) -> dict:
        return {
            "threshold": self.threshold,
            "false_alarm_rate": self.false_alarm_rate,
            "generators": list(self.generators),
            "min_high_frequency": self.min_high_frequency,
            "side": self.side,
        }

    @classmethod
    def from_record(cls, record: dict, side: int | None) -> VerdictRules:
        """The model record's rules; for a model recorded without them, p >= 0.5 and no input range."""
        verdict = record.get("verdict")
        if verdict:
            return cls(
                float(verdict["threshold"]),
                verdict.get("false_alarm_rate"),
                tuple(verdict.get("generators", ())),
                verdict.get("min_high_frequency"),
                verdict.get("side", side),
            )
        heldout = (record.get("validation") or {}).get("heldout") or {}
        generators = tuple(name for name, v in heldout.items() if v.get("class") == "fake")
        return cls(LEGACY_THRESHOLD, None, generators, None, side)

    def called_fake(self, probability: np.ndarray | float) -> np.ndarray | bool:
        return np.asarray(probability) > self.threshold

    def outside_range(self, profiles: np.ndarray) -> np.ndarray:
        """Per row of 1D spectra: less fine detail than the validated range (all False without a range)."""
        if self.min_high_frequency is None:
            return np.zeros(len(np.atleast_2d(profiles)), dtype=bool)
        return high_frequency(profiles) < self.min_high_frequency

    def judge(self, probability: float | None, profile: np.ndarray | None) -> Verdict:
        """The verdict for one face: its p(fake) and its patch's 1D power spectrum (None: no patch)."""
        if probability is None or profile is None:
            size = f"{self.side} x {self.side} px " if self.side else ""
            return Verdict(
                CANNOT_TELL,
                f"the image around this face is smaller than the {size}patch the detector reads at the image's own "
                "resolution, so there is nothing it was validated on to score",
            )
        if self.outside_range(profile)[0]:
            return Verdict(
                CANNOT_TELL,
                "the face holds less fine detail than the photos the detector was validated on (upscaled, blurred "
                "or heavily compressed): the traces it looks for would be gone whether or not it was generated",
            )
        known = ", ".join(self.generators) or "its training generators"
        if self.called_fake(probability):
            rate = f" (at most {100 * self.false_alarm_rate:g}% false alarms)" if self.false_alarm_rate else ""
            return Verdict(
                GENERATOR_TRACES,
                f"the spectrum's score is above the threshold validated on real photos{rate}; validated on {known}",
            )
        return Verdict(
            NO_KNOWN_TRACES,
            f"validated on {known} only; this does not show the face is real: other generators and processing "
            "can leave no such traces",
        )


def majority_verdict(kinds: list[str | None]) -> str:
    """A video's verdict from its frames': traces found when most frames that could be judged show them,
    cannot tell when no frame could be judged."""
    judged = [kind for kind in kinds if kind in (GENERATOR_TRACES, NO_KNOWN_TRACES)]
    if not judged:
        return CANNOT_TELL
    return GENERATOR_TRACES if judged.count(GENERATOR_TRACES) > len(judged) / 2 else NO_KNOWN_TRACES
