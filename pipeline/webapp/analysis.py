"""What GEN_REC does with one upload: decide its type by decoding, then find and describe every face."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import GenrecError
from pipeline.faces import to_gray
from pipeline.fake_video import FakeDetector
from pipeline.gender import FacePrediction, GenderModel, video_gender
from pipeline.images import NOT_AN_IMAGE, OK, TOO_MANY_PIXELS, inspect_image
from pipeline.video import VideoError, sample_frames

MAX_PIXELS = 40_000_000


class UploadError(GenrecError):
    """An upload that cannot be analysed; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def looks_like_video(path: Path) -> bool:
    """A video container's signature (MP4/MOV, AVI, Matroska/WebM), whatever the rest of the file holds."""
    with open(path, "rb") as handle:
        head = handle.read(12)
    return head[4:8] == b"ftyp" or (head[:4] == b"RIFF" and head[8:12] == b"AVI ") or head[:4] == b"\x1aE\xdf\xa3"


def upload_kind(path: Path) -> str:
    """'image' or 'video', decided by decoding the bytes (never by the name or the declared type)."""
    _, _, status = inspect_image(str(path), MAX_PIXELS)
    if status == OK:
        return "image"
    if status == TOO_MANY_PIXELS:
        raise UploadError("the image has too many pixels", 413)
    if status != NOT_AN_IMAGE:
        raise UploadError(f"the image is corrupt ({status.replace('_', ' ')})", 422)
    capture = cv2.VideoCapture(str(path))
    try:
        opened = capture.isOpened()
        readable = opened and capture.read()[0]
    finally:
        capture.release()
    if not opened:
        if looks_like_video(path):
            raise UploadError("the video is corrupt: it cannot be opened", 422)
        raise UploadError("the file is not an image or a video", 415)
    if not readable:
        raise UploadError("the video is corrupt: no frame can be read", 422)
    return "video"


def data_uri(image: np.ndarray) -> str:
    """The image as an inline JPEG (annotated frames are returned, never stored)."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def annotate(image: np.ndarray, faces: list[dict]) -> np.ndarray:
    """A copy of the image with each face's box and label."""
    shown = image.copy()
    thickness = max(2, round(max(image.shape[:2]) / 400))
    for number, face in enumerate(faces, 1):
        x, y, w, h = face["box"]
        colour = (60, 160, 255) if face["gender"] == "female" else (255, 140, 40)
        cv2.rectangle(shown, (x, y), (x + w, y + h), colour, thickness)
        label = f"{number}: {face['gender']} {face['confidence']:.0f}%"
        cv2.putText(shown, label, (max(0, x), max(14, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thickness / 2 + 0.2,
                    colour, max(1, thickness // 2), cv2.LINE_AA)
    return shown


@dataclass
class Analyzer:
    """The loaded models and the video limits; one per worker process."""

    gender: GenderModel
    fake: FakeDetector
    every_s: float
    max_frames: int
    max_seconds: float

    def faces(self, image: np.ndarray) -> tuple[list[FacePrediction], list[dict]]:
        gray = to_gray(image)
        found = self.gender.faces(gray)
        fake = self.fake.probabilities(gray, [face.box for face in found])
        return found, [{**face.as_dict(), "fake_probability": p} for face, p in zip(found, fake)]

    def image(self, path: Path) -> dict:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise UploadError("the image is corrupt: it cannot be decoded", 422)
        _, faces = self.faces(image)
        result = {"kind": "image", "width": image.shape[1], "height": image.shape[0], "faces": faces,
                  "annotated": data_uri(annotate(image, faces))}
        if not faces:
            result["message"] = "no face found in this image"
        return result

    def video(self, path: Path) -> dict:
        try:
            frames = sample_frames(str(path), self.every_s, self.max_frames, self.max_seconds)
        except VideoError:
            raise UploadError("the video is corrupt: no frame can be read", 422) from None
        described, largest = [], []
        for frame in frames:
            found, faces = self.faces(frame.image)
            largest.append(found[:1])
            described.append({"index": frame.index, "time_s": round(frame.time_s, 2), "faces": faces,
                              "annotated": data_uri(annotate(frame.image, faces))})
        summary = video_gender(largest, self.gender.classes)
        fake = [f["faces"][0]["fake_probability"] for f in described
                if f["faces"] and f["faces"][0]["fake_probability"] is not None]
        summary["fake_probability"] = round(float(np.mean(fake)), 4) if fake else None
        result = {"kind": "video", "frames": described, "summary": summary}
        if summary["gender"] is None:
            result["message"] = "no face found in the sampled frames"
        return result

    def analyse(self, path: Path) -> dict:
        return self.image(path) if upload_kind(path) == "image" else self.video(path)
