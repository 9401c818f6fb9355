"""Project hooks."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node

from crack_pipeline.tracking import log_evaluation, log_explanations, log_variant_run, promote


class MlflowRunStackHook:
    """Leaves MLflow's active-run stack as the session found it.

    kedro-mlflow re-enters its run before every node (for thread safety), which pushes the same
    run once per node, and ends it only once. The leftovers would make the next session in the
    same process (a test, a notebook, a scheduled loop) log into a finished run.
    """

    def __init__(self) -> None:
        self._outer_run_id: str | None = None

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self) -> None:
        outer = mlflow.active_run()
        self._outer_run_id = outer.info.run_id if outer else None

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        self._unwind()

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        self._unwind()

    def _unwind(self) -> None:
        while (run := mlflow.active_run()) is not None and run.info.run_id != self._outer_run_id:
            mlflow.end_run(status=mlflow.get_run(run.info.run_id).info.status)


class MlflowVariantRunHook:
    """Gives every trained model variant its own MLflow run, nested under the Kedro run's run.

    kedro-mlflow makes one run per `kedro run`; variants are namespaces inside it. The training
    node stays a pure function: its outputs are logged here once it has finished.
    """

    @hook_impl
    def after_node_run(self, node: Node, outputs: dict[str, Any]) -> None:
        if "train_variant" not in node.tags or mlflow.active_run() is None:
            return
        prefix = f"{node.namespace}." if node.namespace else ""
        log_variant_run(
            outputs[f"{prefix}checkpoint"],
            outputs[f"{prefix}training_history"],
            outputs[f"{prefix}training_curves"],
        )


class MlflowEvaluationHook:
    """Puts each variant's test metrics and plots into its own MLflow run, the comparison table on
    the Kedro run's run, applies the champion decision to the model registry, and logs the
    explanation gallery, grids and localisation scores on the Kedro run's run."""

    @hook_impl
    def after_node_run(self, node: Node, outputs: dict[str, Any]) -> None:
        if mlflow.active_run() is None:
            return
        prefix = f"{node.namespace}." if node.namespace else ""
        if "evaluate_variant" in node.tags:
            metrics = outputs[f"{prefix}evaluation_metrics"]
            log_evaluation(metrics["checkpoint_id"], metrics, outputs[f"{prefix}evaluation_plots"])
        elif "compare_variants" in node.tags:
            table: pd.DataFrame = outputs["variant_comparison"]
            mlflow.log_text(outputs["variant_comparison_markdown"], "variant_comparison.md")
            mlflow.log_table(table, "variant_comparison.json")
            decision = outputs["champion_decision"]
            if decision["promote"]:
                promote(decision["candidate_checkpoint_id"])
        elif node.name == "explain_split":
            log_explanations(outputs["explanations"], outputs["explain_quality"])
