"""`genrec predict`: the gender and confidence of every face in image files."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config import load_config
from pipeline.faces import read_gray
from pipeline.gender import GenderModel, photo_detector
from pipeline.images import OK, inspect_image

GENDER_MODEL = Path("data/models/gender.joblib")
CLASSES = ["female", "male"]


def load_predictor(model: str | None) -> GenderModel:
    """The pipeline's verified model file (default), another saved file, or an MLflow model URI."""
    cfg = load_config()
    detector = photo_detector(cfg.crop, cfg.gender)
    if model and model.startswith(("models:/", "runs:/")):
        return GenderModel.from_registry(model, detector, CLASSES, cfg.crop.size)
    return GenderModel.load(Path(model) if model else GENDER_MODEL, detector)


def predict_file(predictor: GenderModel, path: str, max_pixels: int) -> dict:
    """One file's result: status ok (with faces), no_face, or skipped (with the reason)."""
    _, _, status = inspect_image(path, max_pixels)
    gray = read_gray(path) if status == OK else None
    if gray is None:
        reason = status if status != OK else "unreadable"
        return {"path": path, "status": "skipped", "reason": reason.replace("_", " "), "faces": []}
    faces = [face.as_dict() for face in predictor.faces(gray)]
    return {"path": path, "status": "ok" if faces else "no_face", "faces": faces}


def render(result: dict) -> str:
    if result["status"] == "skipped":
        return f"{result['path']}: skipped ({result['reason']})"
    if result["status"] == "no_face":
        return f"{result['path']}: no face found"
    lines = [f"{result['path']}: {len(result['faces'])} face(s)"]
    for number, face in enumerate(result["faces"], 1):
        x, y, w, h = face["box"]
        lines.append(f"  face {number}: box x={x} y={y} w={w} h={h}  {face['gender']}  {face['confidence']:.1f}%")
    return "\n".join(lines)


def predict_command(paths: list[str], model: str | None, as_json: bool, max_pixels: int = 40_000_000) -> int:
    """Print each file's faces; exit status 1 when some file was skipped."""
    predictor = load_predictor(model)
    results = [predict_file(predictor, path, max_pixels) for path in paths]
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        print("\n".join(render(result) for result in results))
    return 1 if any(result["status"] == "skipped" for result in results) else 0
