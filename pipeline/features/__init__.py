"""Old import paths, kept for one release (0.2) so that models saved before the package was laid out by domain
still load: their pickles and skops' trusted types name `pipeline.features.faces.*`. New code imports
pipeline.gender.features and pipeline.fake.spectrum."""

__all__ = ["faces"]
