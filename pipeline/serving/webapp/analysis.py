"""What GEN_REC does with one upload: decide its type by signature, decode it within bounds,
then find and describe every face.

This runs inside the budgeted child (pipeline.serving.webapp.budget); images and video
frames reach the models already decoded and shrunk to the working size.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from pipeline.config import ServeConfig
from pipeline.data.images import to_gray
from pipeline.data.video import FrameLimits, FrameTooLarge, VideoError, sample_frames
from pipeline.fake.detector import FakeDetector
from pipeline.fake.verdict import HEADLINES, majority_verdict
from pipeline.gender.model import FacePrediction, GenderModel, summarize_video_gender
from pipeline.serving.webapp.uploads import ACCEPTED, IMAGE_FORMATS, UploadError, decode_image, sniff

# Frames decoded from one video, whatever its frame rate claims (20 samples at 60 fps).
MAX_GRABS = 1200
# Share of the analysis budget that frame grabbing may take; the rest is for the faces.
GRAB_SHARE = 0.5


def upload_kind(path: Path) -> str:
    """'image' or 'video' by the file's signature, never by its name or declared type; 415 otherwise."""
    with open(path, "rb") as handle:
        kind = sniff(handle.read(16))
    if kind is None:
        raise UploadError(f"the file is not an image or a video of an accepted format ({ACCEPTED})", 415)
    return "image" if kind in IMAGE_FORMATS else "video"


def in_original(face: dict, scale: float) -> dict:
    """A face described on the working image, its box mapped back to the upload's pixels."""
    return {**face, "box": [int(round(v / scale)) for v in face["box"]]}


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
        cv2.putText(
            shown,
            label,
            (max(0, x), max(14, y - 6)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * thickness / 2 + 0.2,
            colour,
            max(1, thickness // 2),
            cv2.LINE_AA,
        )
    return shown


@dataclass
class Analyzer:
    """The loaded models and the limits on uploads (config's serve section); one per worker process."""

    gender: GenderModel
    fake: FakeDetector
    every_s: float
    max_frames: int
    max_seconds: float
    working_side: int
    max_pixels: int
    max_frame_pixels: int
    max_analysis_s: float

    @classmethod
    def from_config(cls, serve: ServeConfig, gender: GenderModel, fake: FakeDetector) -> Analyzer:
        # Every field but the two models is the serve setting of the same name.
        limits = {f.name: getattr(serve, f.name) for f in fields(cls) if f.name not in ("gender", "fake")}
        return cls(gender=gender, fake=fake, **limits)

    @property
    def frame_limits(self) -> FrameLimits:
        return FrameLimits(
            max_grabs=MAX_GRABS,
            max_grab_s=GRAB_SHARE * self.max_analysis_s,
            max_pixels=self.max_frame_pixels,
            working_side=self.working_side,
        )

    def faces(self, image: np.ndarray) -> tuple[list[FacePrediction], list[dict]]:
        gray = to_gray(image)
        found = self.gender.faces(image)
        scores = self.fake.assess(gray, [face.box for face in found])
        return found, [
            {
                **face.as_dict(),
                **score.as_dict(),
                "spectrum": None if score.spectrum is None else [round(float(v), 5) for v in score.spectrum],
            }
            for face, score in zip(found, scores, strict=True)
        ]

    def image(self, path: Path) -> dict:
        image, (width, height) = decode_image(path.read_bytes(), self.max_pixels, self.working_side)
        scale = max(image.shape[:2]) / max(width, height)
        _, faces = self.faces(image)
        result = {
            "kind": "image",
            "width": round(image.shape[1] / scale),
            "height": round(image.shape[0] / scale),
            "faces": [in_original(face, scale) for face in faces],
            "annotated": data_uri(annotate(image, faces)),
        }
        if not faces:
            result["message"] = "no face found in this image"
        return result

    def video(self, path: Path) -> dict:
        try:
            frames = sample_frames(str(path), self.every_s, self.max_frames, self.max_seconds, self.frame_limits)
        except FrameTooLarge as failure:
            raise UploadError(str(failure), 413) from None
        except VideoError:
            raise UploadError("the video is corrupt: no frame can be read", 422) from None
        described, largest = [], []
        for frame in frames:
            found, faces = self.faces(frame.image)
            largest.append(found[:1])
            described.append(
                {
                    "index": frame.index,
                    "time_s": round(frame.time_s, 2),
                    "faces": [in_original(face, frame.scale) for face in faces],
                    "annotated": data_uri(annotate(frame.image, faces)),
                }
            )
        summary = summarize_video_gender(largest, self.gender.classes)
        fake = [
            f["faces"][0]["fake_probability"]
            for f in described
            if f["faces"] and f["faces"][0]["fake_probability"] is not None
        ]
        summary["fake_probability"] = round(float(np.mean(fake)), 4) if fake else None
        verdict = majority_verdict([f["faces"][0]["fake_verdict"] for f in described if f["faces"]])
        summary |= {"fake_verdict": verdict, "fake_verdict_text": HEADLINES[verdict]}
        result = {"kind": "video", "frames": described, "summary": summary}
        if summary["gender"] is None:
            result["message"] = "no face found in the sampled frames"
        return result

    def analyse(self, path: Path) -> dict:
        return self.image(path) if upload_kind(path) == "image" else self.video(path)
