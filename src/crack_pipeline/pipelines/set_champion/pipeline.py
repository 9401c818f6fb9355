"""`set_champion`: point the registry's `champion` alias at a chosen model version, e.g. to roll back.

kedro run --pipelines=set_champion --params=champion.version=3
"""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.set_champion.nodes import choose_champion


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=choose_champion,
                inputs=["params:champion", "current_champion_alias"],
                outputs=["champion", "champion_decision"],
                name="choose_champion",
            )
        ]
    )
