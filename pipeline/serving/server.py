"""`genrec serve`: GEN_REC under gunicorn, configured by params.yaml's `serve` section.

Worker class: gunicorn's gevent worker. A connection costs a greenlet, not a
worker, so idle or slow clients cannot starve the workers; a request's line
and headers must arrive within serve.header_timeout_s (gunicorn's keep-alive
timeout wraps the header read in the gevent worker, and also closes idle
kept-alive connections), and each read of the body must progress within 4x
that. The analysis itself runs in a budgeted child process
(pipeline.serving.webapp.budget), so a worker's event loop never blocks on it.
"""

from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication
from gunicorn.workers.base_async import AsyncWorker
from gunicorn.workers.ggevent import GeventWorker

from pipeline.config import ServeConfig, load_config

# method, path (no query string), status, duration in ms: nothing about the client or the upload.
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(M)sms"


class GenrecWorker(GeventWorker):
    """gunicorn's gevent worker whose client sockets time out when a body stops arriving."""

    def handle(self, listener, client, addr):
        client.settimeout(4 * self.cfg.keepalive)
        AsyncWorker.handle(self, listener, client, addr)


class GenrecServer(BaseApplication):
    """gunicorn running pipeline.serving.webapp.create_app in every worker (models loaded once per worker)."""

    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # control_socket_disable is gunicorn 26's; older ones have no such socket
                self.cfg.set(key, value)

    def load(self):
        import cv2
        from threadpoolctl import threadpool_limits

        from pipeline.serving.webapp import create_app

        # One thread per worker for OpenCV and BLAS: the workers share the cores, and a forked
        # analysis child inherits no thread pool it could wait on.
        cv2.setNumThreads(1)
        threadpool_limits(1)
        # genrec's own lines (analysis time and peak memory, sweeps) beside gunicorn's error log.
        logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [genrec] %(message)s")
        return create_app()


def gunicorn_options(settings: ServeConfig, host: str | None, port: int | None, workers: int | None) -> dict:
    return {
        "bind": f"{host or settings.host}:{port or settings.port}",
        "workers": workers or settings.workers,
        "worker_class": "pipeline.serving.server.GenrecWorker",
        # Connections (idle, slow or active) one worker holds; analyses still run one at a time.
        "worker_connections": 200,
        "keepalive": settings.header_timeout_s,
        # The event loop keeps answering gunicorn's heartbeat during an analysis; this catches a hung worker.
        "timeout": int(max(30, 3 * settings.max_analysis_s)),
        "graceful_timeout": int(max(10, 2 * settings.max_analysis_s)),
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "preload_app": False,
        "control_socket_disable": True,  # no management socket beside the app
    }


def serve(host: str | None, port: int | None, workers: int | None) -> int:
    cfg = load_config()
    settings = cfg.serve or ServeConfig()
    # Fail here, with one clear sentence, rather than in every worker; sweep what killed workers left.
    from pipeline.serving.webapp import load_analyzer
    from pipeline.serving.webapp.uploads import UploadFolder

    load_analyzer(cfg)
    UploadFolder.open(settings.upload_dir, settings.sweep_every_s)
    GenrecServer(gunicorn_options(settings, host, port, workers)).run()
    return 0
