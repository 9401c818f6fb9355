"""crack_pipeline: explainable crack detection on concrete surface photos."""

import os

__version__ = "0.1.0"

# MLflow 3 sends usage records to its servers from every process that imports it, unless told not to: from
# this package's every kedro command, run or notebook, nothing calls out (Kedro's telemetry is off through
# .telemetry). Set before anything imports MLflow; a MLFLOW_DISABLE_TELEMETRY of your own still holds.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
