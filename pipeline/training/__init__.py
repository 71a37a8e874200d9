"""Model search and scoring, shared by the tasks.

- search: the candidates' grids and folds, grid/halving/racing search, the calibrated refit.
- racing: racing grid search: a candidate that can no longer win stops early.
- metrics: class-1 probabilities, accuracy, ROC, the confusion table, shares.
- scoring: held-out figures per source.
- leave_one_out: the fake task's refits without one source (or clip); gender's are pipeline.gender.leave_one_out.
- tasks: what both tasks share in grid-search: their data's shape, the search and refit.
"""

__all__ = ["search", "racing", "metrics", "scoring", "leave_one_out", "tasks"]
