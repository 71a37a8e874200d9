"""Data: everything before a face is found.

- download: fetch a data set's archive from the mirror, verify it, extract it safely (the download stage).
- datasets: one reader per source layout, one manifest schema out; a configured set read (read_videos).
- images: whether a file is a usable image, and decoding one as uploads are.
- splits: the train/test assignment, once, by person.
- manifest: every usable image with its labels and split (the filter-small-images stage).
- video: frames sampled from a video within bounds; the readable ones of a labelled set.
"""

__all__ = ["download", "datasets", "images", "splits", "manifest", "video"]
