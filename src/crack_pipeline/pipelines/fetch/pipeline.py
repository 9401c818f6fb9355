"""The `fetch` pipeline, the only one that touches the network, and part of no other:

    kedro run --pipelines=fetch --params=fetch.dataset=ozgenel      # or sdnet2018, cfd

downloads the publisher's archive (resuming a broken download), checks its SHA-256 and unpacks it into
data/01_raw/<name>; a second run finds it there and does nothing.
"""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.fetch.nodes import fetch_public_dataset


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=fetch_public_dataset,
                inputs="params:fetch",
                outputs="fetch_summary",
                name="fetch_public_dataset",
            )
        ]
    )
