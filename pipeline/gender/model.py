"""The gender of every face in a photo or a video frame, with the model the pipeline produced.

The saved model is one scikit-learn pipeline from a flattened size x size
grayscale face crop to calibrated class probabilities, so a face is cropped
here exactly as haar-crop cropped the training faces (the Haar box, resized).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from pipeline.config import CropConfig
from pipeline.data.images import to_gray
from pipeline.faces.crops import face_input
from pipeline.faces.detection import detect_faces


@dataclass(frozen=True)
class FacePrediction:
    box: tuple[int, int, int, int]  # x, y, w, h in the image
    gender: str
    confidence: float  # % in [50, 100]: the calibrated probability of the predicted gender

    def as_dict(self) -> dict:
        return {"box": list(self.box), "gender": self.gender, "confidence": self.confidence}


class GenderModel:
    """A fitted crop -> probability model with its class names, and the one detector and face
    normalization (crop config) that made its training crops. pipeline.serving.model_store loads it."""

    def __init__(self, model, classes: list[str], crop: CropConfig):
        self.model, self.classes, self.crop = model, list(classes), crop
        self.size = crop.size

    def predict_crops(self, crops: np.ndarray) -> list[tuple[str, float]]:
        """(gender, confidence %) for each size x size crop."""
        if len(crops) == 0:
            return []
        probabilities = self.model.predict_proba(np.asarray(crops).reshape(len(crops), -1))
        best = probabilities.argmax(axis=1)
        return [(self.classes[i], round(float(100 * p[i]), 2)) for i, p in zip(best, probabilities, strict=True)]

    def faces(
        self, image: np.ndarray, largest_only: bool = False, boxes: np.ndarray | None = None
    ) -> list[FacePrediction]:
        """Every face found in a decoded image (gray, BGR or BGRA), or at the given boxes, largest first."""
        boxes = detect_faces(image, self.crop) if boxes is None else boxes
        gray = to_gray(image)
        if largest_only:
            boxes = boxes[:1]
        crops = np.array([face_input(gray, box, self.crop) for box in boxes]).reshape(len(boxes), self.size, self.size)
        return [
            FacePrediction(tuple(int(v) for v in box), gender, confidence)
            for box, (gender, confidence) in zip(boxes, self.predict_crops(crops), strict=True)
        ]


class MirrorAveraged(ClassifierMixin, BaseEstimator):
    """A fitted face classifier whose probabilities are the mean of its probabilities for each face crop and
    for the crop's mirror image (gender.mirror_average). Input: flattened size x size crops, as the served
    model's. A face and its mirror image are the same person: the answer no longer depends on which way
    the face is turned."""

    def __init__(self, estimator, size: int):
        self.estimator, self.size = estimator, size

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    def predict_proba(self, X) -> np.ndarray:
        X = np.asarray(X)
        mirrored = X.reshape(len(X), self.size, self.size)[:, :, ::-1].reshape(len(X), -1)
        return (self.estimator.predict_proba(X) + self.estimator.predict_proba(mirrored)) / 2

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def summarize_video_gender(frame_faces: list[list[FacePrediction]], classes: list[str]) -> dict:
    """A video's gender from the largest face of each sampled frame: the gender with the higher mean
    probability, and its mean confidence (%) over the frames with a face."""
    faces = [found[0] for found in frame_faces if found]
    if not faces:
        return {"frames": len(frame_faces), "frames_with_face": 0, "gender": None, "confidence": None}
    # Each frame's probability of each gender (two classes: the other one has 100 - confidence).
    share = {g: np.mean([f.confidence if f.gender == g else 100 - f.confidence for f in faces]) for g in classes}
    gender = max(share, key=share.get)
    return {
        "frames": len(frame_faces),
        "frames_with_face": len(faces),
        "gender": gender,
        "confidence": round(float(share[gender]), 2),
    }
