"""Gender from faces.

- features: the feature blocks (eigen, HOG, LBP, SIFT, PCA-SIFT) as one scikit-learn transformer.
- selection: which faces train and which test the model, per source (the extract-eigen stage).
- model: the served model: every face of a photo or frame with its gender and confidence.
- videos: a video's gender from its frames' largest faces; the labelled videos.
- leave_one_out: the features and classifier refitted without one source.
- task: grid-search@gender: its data, held-out figures and served model.
"""


def __getattr__(name: str):
    # Models pickled before 0.2 name pipeline.gender.MirrorAveraged (pipeline.gender was one module then).
    if name == "MirrorAveraged":
        from pipeline.gender.model import MirrorAveraged

        return MirrorAveraged
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["features", "selection", "model", "videos", "leave_one_out", "task"]
