"""`genrec serve`: GEN_REC under gunicorn, configured by params.yaml's `serve` section."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from pipeline.config import ServeConfig, load_config


class GenrecServer(BaseApplication):
    """gunicorn running pipeline.webapp.create_app in every worker (models loaded once per worker)."""

    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from pipeline.webapp import create_app

        return create_app()


def serve(host: str | None, port: int | None, workers: int | None) -> int:
    cfg = load_config()
    settings = cfg.serve or ServeConfig()
    # Fail here, with one clear sentence, rather than in every worker.
    from pipeline.webapp import load_analyzer

    load_analyzer(cfg)
    options = {
        "bind": f"{host or settings.host}:{port or settings.port}",
        "workers": workers or settings.workers,
        "timeout": 120,
        "accesslog": "-",  # method, path and status only: no upload names or content
        "preload_app": False,
    }
    GenrecServer(options).run()
    return 0
