"""MLflow and DVC bookkeeping.

- runs: one MLflow run per stage execution, in the project's store or the team's server.
- lineage: the data a stage read, as MLflow dataset inputs named by DVC.
- publish: a stage's metrics, plots and figures written and logged in one call.
- registry: every new model version the challenger, the best one the champion.
- services: a team's S3 store and MLflow server on loopback; `make ui`.
"""

__all__ = ["runs", "lineage", "publish", "registry", "services"]
