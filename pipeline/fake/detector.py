"""Real/fake scores for faces in photos and video frames, with the spectrum model.

The detector's input is defined once (pipeline.fake.spectrum.detector_input):
the stage, the labelled videos, `genrec predict` and the web app all score a
face through FakeDetector, so each sees what validation saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import CropConfig, SpectrumConfig
from pipeline.data.images import to_gray
from pipeline.data.video import Frame
from pipeline.faces.detection import detect_faces
from pipeline.fake.spectrum import detector_input, profile_of, spectra_of_inputs
from pipeline.fake.verdict import CANNOT_TELL, Verdict, VerdictRules, majority_verdict


@dataclass(frozen=True)
class FakeScore:
    """One face's answer: p(fake) (None without an input), its verdict, and its 1D power spectrum."""

    probability: float | None
    verdict: Verdict
    spectrum: np.ndarray | None

    def as_dict(self) -> dict:
        return {
            "fake_probability": self.probability,
            "fake_verdict": self.verdict.kind,
            "fake_verdict_text": self.verdict.headline,
            "fake_reason": self.verdict.reason,
        }


class FakeDetector:
    """The fitted spectrum -> probability model with the input definition and verdict rules it was validated
    on (rules None: p >= 0.5 and no input range, as models recorded before the verdict)."""

    def __init__(self, model, spectrum: SpectrumConfig, rules: VerdictRules | None = None):
        self.model, self.spectrum = model, spectrum
        self.rules = rules or VerdictRules.from_record({}, spectrum.side)

    def scores(self, gray: np.ndarray, boxes) -> list[tuple[float | None, np.ndarray | None]]:
        """(p(fake), the face's 1D power spectrum) for each face box; (None, None) where no input can be cut."""
        regions = [detector_input(gray, box, self.spectrum) for box in boxes]
        features = spectra_of_inputs(regions, self.spectrum)
        found = ~np.isnan(features).any(axis=1)
        result: list[tuple[float | None, np.ndarray | None]] = [(None, None)] * len(regions)
        if found.any():
            proba = self.model.predict_proba(features[found])[:, 1]
            for index, p in zip(np.flatnonzero(found), proba, strict=True):
                result[index] = (round(float(p), 6), profile_of(features[index], self.spectrum))
        return result

    def probabilities(self, gray: np.ndarray, boxes) -> list[float | None]:
        """p(fake) for each face box (None where no input can be cut)."""
        return [probability for probability, _ in self.scores(gray, boxes)]

    def assess(self, gray: np.ndarray, boxes) -> list[FakeScore]:
        """Each face's p(fake), verdict and spectrum."""
        return [FakeScore(p, self.rules.judge(p, spectrum), spectrum) for p, spectrum in self.scores(gray, boxes)]


def frame_scores(frames: list[Frame], detector: FakeDetector, crop: CropConfig) -> list[dict]:
    """Per sampled frame: whether a face was found and the model's fake probability for the largest one."""
    scores = []
    for frame in frames:
        gray = to_gray(frame.image)
        boxes = detect_faces(frame.image, crop)[:1]
        score = detector.assess(gray, boxes)[0] if len(boxes) else None
        scores.append(
            {
                "frame": frame.index,
                "time_s": round(frame.time_s, 3),
                "face": len(boxes) > 0,
                "fake_probability": None if score is None else score.probability,
                "fake_verdict": None if score is None else score.verdict.kind,
            }
        )
    return scores


def video_score(scores: list[dict], threshold: float) -> dict:
    """A video's score: the mean of its frames' fake probabilities and their vote, each called fake above the
    model's threshold; its verdict, the scored frames' majority (cannot tell when no frame could be judged)."""
    probabilities = np.array([s["fake_probability"] for s in scores if s["fake_probability"] is not None])
    if len(probabilities) == 0:
        return {
            "frames": len(scores),
            "frames_with_face": 0,
            "fake_probability_mean": None,
            "fake_vote_share": None,
            "predicted_mean": None,
            "predicted_vote": None,
            "fake_verdict": CANNOT_TELL,
        }
    vote_share = float((probabilities > threshold).mean())
    mean = float(probabilities.mean())
    return {
        "frames": len(scores),
        "frames_with_face": int(len(probabilities)),
        "fake_probability_mean": round(mean, 6),
        "fake_vote_share": round(vote_share, 6),
        "predicted_mean": "fake" if mean > threshold else "real",
        "predicted_vote": "fake" if vote_share > 0.5 else "real",
        "fake_verdict": majority_verdict([s.get("fake_verdict") for s in scores]),
    }
