"""What a checkpoint records of the code and the images its model learned from, and the count of those
images among others."""

import hashlib
import logging
import subprocess

import pandas as pd
import torch

from crack_pipeline.provenance import git_commit, learned_among, learned_images


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


def test_the_commit_is_dirty_when_the_code_that_runs_is_not_the_commits(tmp_path):
    assert git_commit(tmp_path) == "unknown", "outside git"
    package = tmp_path / "src/package"
    package.mkdir(parents=True)
    (package / "nodes.py").write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "first"]):
        subprocess.run([*git, *command], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert git_commit(package) == head.strip()
    (tmp_path / "notes.txt").write_text("a file of the developer's, beside the code")
    (package / "cache.pyc").write_text("ignored")
    assert git_commit(package) == head.strip()
    (package / "new_module.py").write_text("y = 2\n")
    assert git_commit(package) == head.strip() + "+dirty", "a module git does not track runs too"
    (package / "new_module.py").unlink()
    (package / "nodes.py").write_text("x = 2\n")
    assert git_commit(package) == head.strip() + "+dirty"
