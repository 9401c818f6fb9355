"""crack_pipeline: explainable crack detection on concrete surface photos."""

import os
import warnings

__version__ = "0.1.0"

# MLflow 3 sends usage records to its servers from every process that imports it, unless told not to: from
# this package's every kedro command, run or notebook, nothing calls out (Kedro's telemetry is off through
# .telemetry). Set before anything imports MLflow; a MLFLOW_DISABLE_TELEMETRY of your own still holds.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# MLflow draws a "Downloading artifacts: 100%" bar each time a run reads the champion from the store (explain,
# evaluate_folder, survey, retrain): a first run's log looked like a download, where nothing is downloaded.
# MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=true of your own brings it back.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

# FastAPI deprecates the ORJSONResponse kedro-viz's server subclasses: `kedro viz build` and `kedro viz run`
# printed it, nothing a user of the project can act on. `kedro viz run` starts its server in a process of its
# own, which imports kedro-viz before this package: the filter reaches it through the environment.
_VIZ_WARNING = "ignore:ORJSONResponse is deprecated:UserWarning"
warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated", category=UserWarning)
if _VIZ_WARNING not in (_shown := os.environ.get("PYTHONWARNINGS", "")):
    os.environ["PYTHONWARNINGS"] = f"{_shown},{_VIZ_WARNING}" if _shown else _VIZ_WARNING

# MLflow imports tqdm.auto, which in a notebook kernel without ipywidgets warns "IProgress not found. Please
# update jupyter and ipywidgets" and draws the terminal's bars, as it does then anyway: the exploration
# notebook's first cell showed it. Nothing there needs a widget bar; ipywidgets installed draws them.
warnings.filterwarnings("ignore", message="IProgress not found")
