"""Real or GAN-generated.

- spectrum: the azimuthally averaged 1D power spectrum and the folded quadrants (Durall et al.).
- training_set: which labelled images and frames, and their spectra (the extract-spectrum stage).
- detector: the served detector: a fake probability for every face.
- videos: the detector on the labelled videos, frame by frame and per video.
- task: grid-search@fake: its data, held-out figures and served model.
"""

__all__ = ["spectrum", "training_set", "detector", "videos", "task"]
