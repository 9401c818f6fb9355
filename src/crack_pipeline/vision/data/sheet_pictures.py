"""A file's picture for a sheet: its bytes decoded as ingest validated them, no larger than a sheet keeps a
picture (`vision.figures.sheet_picture`), for the EDA grid and a listed folder's sheets alike. Its own
module: `eda` may not import torch, which `listed_images` brings (every kedro command loads the ingest
pipeline), and `figures`, shared by every room, imports none of them."""

from __future__ import annotations

import numpy as np

from crack_pipeline.vision.data.image_io import VALIDATED, decode_image
from crack_pipeline.vision.figures import PICTURE_SIDE, sheet_picture


def sheet_picture_of(data: bytes) -> np.ndarray:
    """The image `data` holds as a sheet's H x W x 3 uint8 picture; `decode_image`'s `ImageRejected` (or an
    `OSError`) where it no longer decodes within ingest's limits."""
    return sheet_picture(decode_image(data, VALIDATED, within=PICTURE_SIDE).image)
