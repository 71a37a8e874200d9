"""genrec: a reproducible face-analysis pipeline (gender from eigenfaces, real vs GAN from the spectrum)."""

__version__ = "0.2.0"
