"""GEN_REC: the paper's web app, serving the models the pipeline produced.

Pages: a welcome page, the method, and "try it now" (upload an image or a
video). JSON API: POST /api/predict (multipart field `file`), GET /health.

Every upload is treated as hostile (see pipeline.serving.webapp.uploads and .budget):
it is written as an unnamed file in this process's private folder, analysed
by the worker's analysis child within a time and memory budget, one analysis
at a time per worker, and gone when the response is ready, also when the
worker is killed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from flask import Flask, Request, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from pipeline.config import Config, ServeConfig, load_config
from pipeline.faces.detection import detect_faces, load_mmod
from pipeline.project import project_root
from pipeline.serving.model_store import fake_detector, gender_model, load_model
from pipeline.serving.webapp.analysis import Analyzer, UploadError, upload_kind
from pipeline.serving.webapp.budget import AnalysisChild, AnalysisFailed, Budget, rss_mb
from pipeline.serving.webapp.uploads import UploadFolder

log = logging.getLogger("genrec.serve")
# Self only; annotated frames come back inline as data: images.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def load_analyzer(cfg: Config) -> tuple[Analyzer, dict]:
    """The gender and fake models, loaded once; raises ModelError (run `dvc repro`) without them."""
    serve = cfg.serve or ServeConfig()
    # Files from the repository's root, whatever the working directory; or MLflow URIs.
    root = project_root()
    gender = load_model(serve.gender_model, base=root)
    fake = load_model(serve.fake_model, base=root)
    analyzer = Analyzer.from_config(serve, gender_model(gender, cfg.crop), fake_detector(fake, cfg.spectrum))
    return analyzer, {"gender": gender.source, "fake": fake.source, "fake_validation": fake_validation(fake.record)}


def fake_validation(record: dict) -> dict | None:
    """What the fake score was validated on, as grid-search@fake recorded it with the model (None for a
    model logged without it): real sources with their false-alarm rates, generators with their detection rates."""
    validation = record.get("validation")
    if not validation:
        return None
    heldout = validation["heldout"]
    return {
        "real": [
            {"source": name, "rate": v["false_alarm_rate"], "n": v["n"]}
            for name, v in heldout.items()
            if v["class"] == "real"
        ],
        "fake": [
            {"source": name, "rate": v["detection_rate"], "n": v["n"]}
            for name, v in heldout.items()
            if v["class"] == "fake"
        ],
        "roc_auc": validation.get("roc_auc"),
        "input": record.get("spectrum", {}),
        "profiles": record.get("profiles"),
        "verdict": record.get("verdict"),
        "robustness": robustness_rows(validation.get("robustness") or {}, list(heldout)),
    }


def robustness_rows(robustness: dict, sources: list[str]) -> dict:
    """The robustness figures as the method page's table: the sources, and per named step each source's share
    called generated (false alarms of real sources, detections of generators) and its share it cannot tell."""
    shown = [name for name in sources if any(name in by_source for by_source in robustness.values())]
    rows = []
    for step, by_source in robustness.items():
        cells = []
        for name in shown:
            figures = by_source.get(name)
            rate = None if figures is None else figures.get("detection_rate", figures.get("false_alarm_rate"))
            cells.append({"rate": rate, "cannot_tell": None if figures is None else figures.get("cannot_tell")})
        rows.append({"step": step, "cells": cells})
    return {"sources": shown, "rows": rows}


def warm_up(analyzer: Analyzer) -> None:
    """Load the detectors and run each model once in the worker, so every forked analysis starts warm
    (what this caches is one small entry per cache: the worker's caches stay bounded). dlib's CNN is loaded,
    never run: a process that ran it forks children that hang in it (pipeline.faces.detection.mmod_faces)."""
    crop = analyzer.gender.crop
    detect_faces(np.full((240, 320, 3), 128, np.uint8), crop.model_copy(update={"fallback": None}))
    if crop.fallback == "mmod":
        load_mmod()
    analyzer.gender.predict_crops(np.zeros((1, analyzer.gender.size, analyzer.gender.size)))
    analyzer.fake.probabilities(np.full((240, 320), 128, np.uint8), [(100, 60, 120, 120)])


def upload_request_class(uploads: UploadFolder) -> type[Request]:
    class UploadRequest(Request):
        """Uploaded files go to this process's private folder, unnamed, whatever their size."""

        def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
            return uploads.new_file()

    return UploadRequest


def cross_origin(req: Request) -> bool:
    """Whether a browser says this request comes from another site (requests without the headers,
    such as curl's, are not a browser's and pass)."""
    if req.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = req.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc != req.host


def create_app(cfg: Config | None = None) -> Flask:
    """The app, its models loaded (refuses to start without them)."""
    cfg = cfg or load_config()
    serve = cfg.serve or ServeConfig()
    analyzer, models = load_analyzer(cfg)
    warm_up(analyzer)
    uploads = UploadFolder.open(serve.upload_dir, serve.sweep_every_s)
    start_sweeper(uploads)
    # The child gets the upload through the worker's descriptor of its unnamed file.
    child = AnalysisChild(
        lambda path: analyzer.analyse(Path(path)),
        Budget(serve.max_analysis_s, serve.max_analysis_mb),
        recycle_mb=serve.max_analysis_mb / 4,
    )
    one_at_a_time = threading.Lock()  # gevent's lock under gunicorn's gevent worker
    app = Flask(__name__)
    app.request_class = upload_request_class(uploads)
    app.config["MAX_CONTENT_LENGTH"] = int(serve.max_upload_mb * 1024 * 1024)
    app.config["uploads"], app.config["analysis_child"] = uploads, child
    limits = {"max_upload_mb": serve.max_upload_mb, "max_frames": serve.max_frames, "max_seconds": serve.max_seconds}

    @app.before_request
    def refuse_other_sites():
        if request.method not in ("GET", "HEAD", "OPTIONS") and cross_origin(request):
            return error("requests from other sites are refused", 403)
        return None

    @app.after_request
    def safety_headers(response):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith("/api/") or request.path == "/health":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def welcome():
        return render_template("index.html")

    validation = models.pop("fake_validation")

    @app.get("/method")
    def method():
        return render_template("method.html", validation=validation)

    @app.get("/try")
    def try_it():
        return render_template("try.html", limits=limits, validation=validation)

    @app.get("/health")
    def health():
        return jsonify(status="ok", models=models)

    @app.post("/api/predict")
    def predict():
        upload = request.files.get("file")
        if upload is None:
            return error("no file uploaded: send it as the multipart field 'file'", 400)
        try:
            stream = upload.stream
            stream.flush()
            if os.fstat(stream.fileno()).st_size == 0:
                return error("the file is empty", 400)
            path = Path(f"/proc/{os.getpid()}/fd/{stream.fileno()}")
            upload_kind(path)  # 16 bytes of signature: other formats are refused before any decoder runs
            if not one_at_a_time.acquire(timeout=2 * serve.max_analysis_s):
                return error("the server is busy: try again in a moment", 503)
            try:
                return jsonify(child.run(str(path)))
            finally:
                one_at_a_time.release()
        except UploadError as failure:
            return error(str(failure), failure.status)
        finally:
            upload.close()
            restart_if_grown(serve)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_):
        return error(f"the file is larger than {serve.max_upload_mb:g} MB", 413)

    @app.errorhandler(HTTPException)
    def http_error(failure: HTTPException):
        return error(failure.description or failure.name, failure.code or 500)

    @app.errorhandler(AnalysisFailed)
    def analysis_failed(failure: AnalysisFailed):
        log.error("analysis failed in its child process:\n%s", failure)  # never the upload's name or content
        return error("the file could not be analysed", 500)

    @app.errorhandler(Exception)
    def unexpected(failure: Exception):
        log.exception("analysis failed")  # the upload's name and content are never logged
        return error("the file could not be analysed", 500)

    return app


def start_sweeper(uploads: UploadFolder) -> None:
    """Sweep the upload root every serve.sweep_every_s, also when no request comes (a greenlet under gevent)."""

    def sweep_forever():
        while True:
            time.sleep(uploads.sweep_every_s)
            try:
                uploads.sweep_if_due()
            except OSError:
                log.exception("upload sweep failed")

    threading.Thread(target=sweep_forever, name="upload-sweeper", daemon=True).start()


def restart_if_grown(serve: ServeConfig) -> None:
    """Under gunicorn, a worker whose own memory grew past its share of serve.max_rss_mb (the rest is
    the analysis child's) ends gracefully after this response; gunicorn starts a fresh one."""
    own = rss_mb()
    if own > serve.max_rss_mb - serve.max_analysis_mb and "gunicorn" in request.environ.get("SERVER_SOFTWARE", ""):
        log.warning("worker RSS %.0f MB is past its share of serve.max_rss_mb: restarting it", own)
        os.kill(os.getpid(), signal.SIGTERM)


def error(message: str, status: int):
    return jsonify(error=message), status
