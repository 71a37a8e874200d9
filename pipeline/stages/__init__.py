"""One thin module per DVC stage, run as `python -m pipeline.stages.<name>`: read config, call the domain, publish."""

__all__ = [
    "download",
    "filter_small_images",
    "haar_crop",
    "extract_eigen",
    "extract_spectrum",
    "grid_search",
    "evaluate_by_ethnicity",
]
