"""The `survey` pipeline: `explain_survey_photos` (one shard, or all) then `merge_survey`."""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.survey.nodes import explain_survey_photos, merge_survey


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=explain_survey_photos,
                # survey_progress and survey_photos are one folder: what is done, then what is added.
                inputs=[
                    "explain_model",
                    "explain_input",
                    "survey_progress",
                    "params:explain",
                    "params:tiling",
                    "params:ingest",
                    "params:device",
                    "latest_crack_segmenter",
                    "params:segmenter",
                ],
                outputs="survey_photos",
                name="explain_survey_photos",
                tags=["survey"],
            ),
            Node(
                func=merge_survey,
                inputs=["survey_photos", "explain_input"],
                outputs=["survey_gallery", "survey_predictions", "survey_boxes", "survey_measurements"],
                name="merge_survey",
                tags=["survey"],
            ),
        ]
    )
