"""Serving the trained models; never imports training code.

- model_store: the one way to load a trained model, verified, with its record.
- predict: `genrec predict`.
- server: `genrec serve`: GEN_REC under gunicorn.
- webapp: GEN_REC: pages, uploads, the bounded analysis.
"""

__all__ = ["model_store", "predict", "server", "webapp"]
