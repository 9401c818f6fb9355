"""The `mask_tiles` pipeline: photos with pixel crack masks -> a labelled patch set in ingest's layout.

    kedro run --pipelines=mask_tiles \
        --params=mask_tiles.images_dir=DIR,mask_tiles.masks_dir=DIR[,mask_tiles.name=NAME]

writes data/02_intermediate/mask_tiles/<name>/{Positive,Negative}/, a source for `data.sources`.
"""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.mask_tiles.nodes import tile_masked_photos


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=tile_masked_photos,
                inputs=["masked_photos", "masked_photo_masks", "params:mask_tiles", "params:ingest"],
                outputs=["mask_tile_images", "mask_tile_summary"],
                name="tile_masked_photos",
            )
        ]
    )
