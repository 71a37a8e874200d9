"""GEN_REC: the paper's web app, serving the models the pipeline produced.

Pages: a welcome page, the method, and "try it now" (upload an image or a
video). JSON API: POST /api/predict (multipart field `file`), GET /health.
Each upload lives in its own private temporary folder only while its request
is handled; it is removed when the response is ready, also when analysis fails.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from pipeline.config import Config, ServeConfig, load_config
from pipeline.fake_video import FakeDetector
from pipeline.gender import GenderModel
from pipeline.models import load_verified
from pipeline.stages.common import resolve_from_root
from pipeline.webapp.analysis import Analyzer, UploadError

log = logging.getLogger("genrec.serve")
CLASSES = ["female", "male"]


def load_model(spec: str):
    """A model file verified against its recorded sha256, or an MLflow model URI; (model, sha256 or URI)."""
    if spec.startswith(("models:/", "runs:/")):
        import mlflow.sklearn

        from pipeline.tracking import tracking_uri

        mlflow.set_tracking_uri(tracking_uri())
        return mlflow.sklearn.load_model(spec), spec
    model, record = load_verified(resolve_from_root(spec))
    return model, record["sha256"]


def load_analyzer(cfg: Config) -> tuple[Analyzer, dict]:
    """The gender and fake models, loaded once; raises ModelError (run `dvc repro`) without them."""
    serve = cfg.serve or ServeConfig()
    gender, gender_id = load_model(serve.gender_model)
    fake, fake_id = load_model(serve.fake_model)
    analyzer = Analyzer(
        gender=GenderModel(gender, CLASSES, cfg.crop), fake=FakeDetector(fake, cfg.spectrum),
        every_s=serve.every_s, max_frames=serve.max_frames, max_seconds=serve.max_seconds,
    )
    return analyzer, {"gender": gender_id, "fake": fake_id}


def upload_root(serve: ServeConfig) -> Path:
    root = Path(serve.upload_dir) if serve.upload_dir else Path(tempfile.gettempdir()) / "genrec-uploads"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def create_app(cfg: Config | None = None) -> Flask:
    """The app, its models loaded (refuses to start without them)."""
    cfg = cfg or load_config()
    serve = cfg.serve or ServeConfig()
    analyzer, models = load_analyzer(cfg)
    uploads = upload_root(serve)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(serve.max_upload_mb * 1024 * 1024)
    limits = {"max_upload_mb": serve.max_upload_mb, "max_frames": serve.max_frames, "max_seconds": serve.max_seconds}

    @app.get("/")
    def welcome():
        return render_template("index.html")

    @app.get("/method")
    def method():
        return render_template("method.html")

    @app.get("/try")
    def try_it():
        return render_template("try.html", limits=limits)

    @app.get("/health")
    def health():
        return jsonify(status="ok", models=models)

    @app.post("/api/predict")
    def predict():
        upload = request.files.get("file")
        if upload is None:
            return error("no file uploaded: send it as the multipart field 'file'", 400)
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=uploads))  # mode 0700
        try:
            path = folder / "upload"  # the client's file name is never used
            upload.save(path)
            if path.stat().st_size == 0:
                return error("the file is empty", 400)
            return jsonify(analyzer.analyse(path))
        except UploadError as failure:
            return error(str(failure), failure.status)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_):
        return error(f"the file is larger than {serve.max_upload_mb:g} MB", 413)

    @app.errorhandler(HTTPException)
    def http_error(failure: HTTPException):
        return error(failure.description or failure.name, failure.code or 500)

    @app.errorhandler(Exception)
    def unexpected(failure: Exception):
        log.exception("analysis failed")  # the upload's name and content are never logged
        return error("the file could not be analysed", 500)

    return app


def error(message: str, status: int):
    return jsonify(error=message), status
