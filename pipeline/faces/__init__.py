"""Faces: find them in a photo and cut them out.

- detection: the Haar cascade, and dlib's CNN where the cascade finds nothing.
- crops: the one face normalization every path uses (square, aligned, resized).
- haar_crop: every kept image's largest face into one array, the detection figures (the haar-crop stage).
"""

__all__ = ["detection", "crops", "haar_crop"]
