"""`genrec predict`: the gender, confidence and fake probability of every face in image files.

It applies the very detector, face normalization and detector input that the
stages validated (pipeline.gender.model.GenderModel, pipeline.fake.detector.FakeDetector),
so its answers are the stage's answers for the same photo.
"""

from __future__ import annotations

import json

from pipeline.config import Config, ServeConfig, load_config
from pipeline.data.images import OK, inspect_image, read_image, to_gray
from pipeline.fake.detector import FakeDetector
from pipeline.gender.model import GenderModel
from pipeline.project import TaskFiles
from pipeline.serving.model_store import load_fake_detector, load_gender_model

GENDER_MODEL = TaskFiles.of("gender").model
FAKE_MODEL = TaskFiles.of("fake").model


def load_predictor(model: str | None, cfg: Config | None = None) -> GenderModel:
    """The pipeline's verified model file (default), another saved file, or an MLflow model URI."""
    cfg = cfg or load_config()
    return load_gender_model(model or GENDER_MODEL, cfg.crop)[0]


def fake_detector_for(model: str | None, cfg: Config) -> FakeDetector | None:
    """The spectrum model (verified file or MLflow URI); None when asked for none or none was built."""
    if model == "none" or (model is None and not FAKE_MODEL.is_file()):
        return None
    return load_fake_detector(model or FAKE_MODEL, cfg.spectrum)[0]


def predict_file(predictor: GenderModel, path: str, max_pixels: int, fake: FakeDetector | None = None) -> dict:
    """One file's result: status ok (with faces), no_face, or skipped (with the reason)."""
    _, _, status = inspect_image(path, max_pixels)
    image = read_image(path) if status == OK else None
    if image is None:
        reason = status if status != OK else "unreadable"
        return {"path": path, "status": "skipped", "reason": reason.replace("_", " "), "faces": []}
    gray = to_gray(image)
    found = predictor.faces(image)
    faces = [face.as_dict() for face in found]
    if fake is not None:
        for face, score in zip(faces, fake.assess(gray, [f.box for f in found]), strict=True):
            face.update(score.as_dict())
    return {"path": path, "status": "ok" if faces else "no_face", "faces": faces}


def fake_text(face: dict) -> str:
    """The fake verdict in words, its reason, and p(fake) only beside a verdict that was validated."""
    probability = face["fake_probability"]
    validated = probability is not None and face["fake_verdict"] != "cannot_tell"
    shown = f" (p(fake) {100 * probability:.1f}%)" if validated else ""
    return f"{face['fake_verdict_text']}{shown}: {face['fake_reason']}"


def render(result: dict) -> str:
    if result["status"] == "skipped":
        return f"{result['path']}: skipped ({result['reason']})"
    if result["status"] == "no_face":
        return f"{result['path']}: no face found"
    lines = [f"{result['path']}: {len(result['faces'])} face(s)"]
    for number, face in enumerate(result["faces"], 1):
        x, y, w, h = face["box"]
        lines.append(f"  face {number}: box x={x} y={y} w={w} h={h}  {face['gender']}  {face['confidence']:.1f}%")
        if "fake_verdict" in face:
            lines.append(f"    generated? {fake_text(face)}")
    return "\n".join(lines)


def predict_command(paths: list[str], model: str | None, as_json: bool, fake_model: str | None = None) -> int:
    """Print each file's faces; exit status 1 when some file was skipped."""
    cfg = load_config()
    predictor = load_predictor(model, cfg)
    fake = fake_detector_for(fake_model, cfg)
    max_pixels = (cfg.serve or ServeConfig()).max_pixels  # the upload limit, as the web app applies it
    results = [predict_file(predictor, path, max_pixels, fake) for path in paths]
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        print("\n".join(render(result) for result in results))
    return 1 if any(result["status"] == "skipped" for result in results) else 0
