"""`evaluate_folder`: validate a folder like ingest, then evaluate the champion (or a variant) on its labelled
images and rank its unlabelled ones for labelling.

kedro run --pipelines=evaluate_folder --params=evaluate_folder.path=DIR[,evaluate_folder.model=VARIANT]
"""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.evaluate_folder.nodes import evaluate_folder
from crack_pipeline.pipelines.ingest.nodes import scan_folder_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=scan_folder_images,
                inputs=["evaluate_folder_images", "params:ingest"],
                outputs=["evaluate_folder_index", "evaluate_folder_histograms"],
                name="scan_evaluate_folder",
            ),
            Node(
                func=evaluate_folder,
                inputs=[
                    "evaluate_folder_index",
                    "evaluate_folder_model",
                    "params:evaluate_folder",
                    "params:tiling",
                    "params:device",
                ],
                outputs=[
                    "evaluate_folder_metrics",
                    "evaluate_folder_predictions",
                    "evaluate_folder_label_next",
                    "evaluate_folder_plots",
                ],
                name="evaluate_folder",
            ),
        ]
    )
