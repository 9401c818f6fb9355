"""The `evaluate` pipeline: test metrics per variant, then the comparison and the champion decision."""

from kedro.pipeline import Node, Pipeline, pipeline

from crack_pipeline.config import variant_names
from crack_pipeline.pipelines.evaluate.nodes import compare_variants, evaluate_variant


def variant_pipeline(name: str) -> Pipeline:
    template = Pipeline(
        [
            Node(
                func=evaluate_variant,
                inputs=["checkpoint", "split_tensors", "params:evaluate"],
                outputs=["evaluation_metrics", "predictions", "submission", "evaluation_plots"],
                name="evaluate_variant",
                tags=["evaluate_variant"],
            )
        ]
    )
    return pipeline(template, namespace=name, inputs={"split_tensors"}, parameters={"params:evaluate"})


def create_pipeline(variants: list[str] | None = None, **kwargs) -> Pipeline:
    """Evaluation of each variant (default: those selected in `train.variants`) and their comparison."""
    names = variant_names() if variants is None else variants
    compare = Node(
        func=compare_variants,
        inputs=[
            "params:evaluate",
            "current_champion",
            "split_tensors",
            *(f"{n}.evaluation_metrics" for n in names),
        ],
        outputs=["variant_comparison", "variant_comparison_markdown", "champion_decision"],
        name="compare_variants",
        tags=["compare_variants"],
    )
    return sum((variant_pipeline(name) for name in names), Pipeline([compare]))
