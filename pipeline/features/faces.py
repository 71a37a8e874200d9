"""Alias of pipeline.gender.features for models pickled before 0.2 (see pipeline.features)."""

from pipeline.gender.features import PcaSift, hog_histograms, lbp_histograms, minmax_rows, sift_rows

__all__ = ["PcaSift", "hog_histograms", "lbp_histograms", "minmax_rows", "sift_rows"]
