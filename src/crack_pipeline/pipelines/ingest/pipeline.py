"""The `ingest` pipeline: source folder -> validated image index and EDA reports."""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.ingest.nodes import (
    describe_images,
    plot_intensity_histograms,
    plot_sample_grid,
    scan_images,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=scan_images,
                inputs=["raw_images", "params:ingest", "params:data", "params:train"],
                outputs=["image_index", "pixel_histograms"],
                name="scan_images",
            ),
            Node(
                func=describe_images,
                inputs=["image_index", "pixel_histograms"],
                outputs=["eda_class_counts", "eda_image_sizes", "eda_channel_stats"],
                name="describe_images",
            ),
            Node(
                func=plot_intensity_histograms,
                inputs="pixel_histograms",
                outputs="eda_intensity_histograms",
                name="plot_intensity_histograms",
            ),
            Node(
                func=plot_sample_grid,
                inputs=["image_index", "params:ingest"],
                outputs="eda_sample_grid",
                name="plot_sample_grid",
            ),
        ]
    )
