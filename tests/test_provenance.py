"""What a checkpoint records of the images its model learned from, and the count of them among others."""

import hashlib
import logging

import pandas as pd
import torch

from crack_pipeline.provenance import learned_among, learned_images


def digest(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def manifest(splits: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"sha256": [digest(i) for i in range(len(splits))], "split": splits})


def test_a_model_has_learned_from_its_training_and_validation_images_and_its_parents(caplog):
    caplog.set_level(logging.WARNING, logger="crack_pipeline")
    split = manifest(["train", "train", "val", "test", "test", "train"])
    split.loc[5, "sha256"] = digest(0)  # the same bytes twice: one image
    model = {"variant": "m", "learned_images": learned_images(split)}
    assert len(model["learned_images"]) == 3 and model["learned_images"].dtype == torch.int64
    test = split[split.split == "test"].sha256
    assert learned_among(model, test, "test images", "explain") == 0 and not caplog.text
    assert learned_among(model, split.sha256, "images of the folder", "evaluate_folder") == 4
    assert "evaluate_folder: 4 of the 6 images of the folder are images model m learned from" in caplog.text

    parent = learned_images(manifest(["test", "test", "test", "train"]))  # a model it was fine-tuned from
    child = {"variant": "c", "learned_images": learned_images(split, parent)}
    assert learned_among(child, pd.Series([digest(3), digest(4)]), "x", "s") == 1, "the parent's image 3"
    assert learned_among({"variant": "old"}, test, "test images", "explain") is None, "not recorded"
