"""A run on several folders at once (`data.sources`): each image keeps its domain from ingest to the
comparison table, and every metric is reported per domain as well as pooled."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from crack_pipeline.datasets import TorchCheckpointDataset
from crack_pipeline.vision.data.synthetic import SynthConfig, generate
from tests.conftest import line_fields, logged_lines, run_session, use_tiny_training, write

DOMAINS = ("site_a", "site_b")
SIDES = {"site_a": 64, "site_b": 96}  # two cameras' patches


def latest(project: Path, relative: str) -> Path:
    folder = project / relative
    return sorted(folder.iterdir())[-1] / folder.name


def photo_patches(root: Path, seed: int, size: int) -> None:
    """Easy synthetic patches of `size` px named `<photo>-<file>` as SDNET names them: three patches per
    parent photo."""
    config = SynthConfig(count_per_class=12, image_size=size, seed=seed, difficulty=0.0)
    images, _ = generate(config, workers=1)
    for i, (name, content) in enumerate(sorted(images.items())):
        folder, file = name.split("/")
        write(root, f"{folder}/{i // 3}-{file}", content)


def test_several_sources_are_split_by_photo_and_scored_per_domain(kedro_project, tmp_path):
    for seed, domain in enumerate(DOMAINS, start=1):
        photo_patches(tmp_path / domain, seed, SIDES[domain])
    sources = [{"domain": d, "path": str(tmp_path / d), "group_pattern": r"^(\d+)-"} for d in DOMAINS]
    use_tiny_training(kedro_project, variants=("small_cnn",), epochs=1)
    own_recall = {"site_b": 0.5, "site_c": 0.9}  # site_c: a typo, or a domain of another environment
    with logged_lines() as lines:
        run_session(
            kedro_project,
            {
                "data": {"sources": sources},
                # its few validation images each (train.own_threshold_min_images is 30)
                "train": {"target_recall_by_domain": own_recall, "own_threshold_min_images": 1},
            },
            pipeline_names=["from_folder"],
            to_nodes=["promote_champion"],
        )
    assert "  domain site_a: crack 12, no_crack 12, 8 groups" in lines
    assert any(
        line.startswith("train: small_cnn decision threshold for domain site_b: ")
        and "for recall 0.5 on validation (there: recall " in line
        for line in lines
    ), lines
    assert any(
        line.startswith(
            "train: train.target_recall_by_domain names site_c, which has no threshold of its own"
        )
        and "site_a, site_b" in line
        for line in lines
    )

    manifest = pd.read_csv(latest(kedro_project, "data/03_primary/split_manifest.csv"))
    assert manifest.groupby("domain").size().to_dict() == {"site_a": 24, "site_b": 24}
    assert manifest.groupby("group").split.nunique().max() == 1, "a parent photo never straddles splits"
    assert set(manifest.group.str.split(":").str[0]) == set(DOMAINS)
    test = manifest[manifest.split == "test"]
    assert set(test.domain) == set(DOMAINS) and set(test.label) == {"crack", "no_crack"}

    metrics = json.loads(
        latest(kedro_project, "data/08_reporting/small_cnn/evaluation_metrics.json").read_text()
    )
    predictions = pd.read_csv(latest(kedro_project, "data/07_model_output/small_cnn/predictions.csv"))
    assert set(metrics["per_domain"]) == set(DOMAINS)
    checkpoint = TorchCheckpointDataset(
        filepath=str(latest(kedro_project, "data/06_models/small_cnn/checkpoint.pt"))
    )
    trained = checkpoint.load()
    own = trained["threshold"]["per_domain"]
    assert set(own) == set(DOMAINS), "one decision threshold per domain, each chosen on its validation photos"
    assert own["site_a"]["target_recall"] == 0.99 and own["site_b"]["target_recall"] == 0.5
    assert trained["patch_sides"] == SIDES, "each domain's training patch side"
    assert sorted(trained["feature_reference"]["domains"]) == list(DOMAINS), "familiarity domain by domain"
    for domain in DOMAINS:
        rows = predictions[predictions.domain == domain]
        assert rows.file.str.startswith(f"{domain}/").all()
        scores = metrics["per_domain"][domain]["at_threshold"]
        threshold = own[domain]["value"]
        assert scores["threshold"] == threshold
        assert (
            rows.predicted_label == np.where(rows.crack_probability >= threshold, "crack", "no_crack")
        ).all()
        y = (rows.true_label == "crack").astype(int)
        assert scores["n"] == len(rows) == (test.domain == domain).sum()
        assert scores["balanced_accuracy"] == pytest.approx(
            sk.balanced_accuracy_score(y, rows.crack_probability >= threshold)
        )
        assert scores["roc_auc"] == pytest.approx(sk.roc_auc_score(y, rows.crack_probability))
        fields = line_fields(lines, f"evaluate: small_cnn test domain {domain} n=")
        assert float(fields["balanced_accuracy"]) == pytest.approx(scores["balanced_accuracy"], abs=5e-5)

    table = pd.read_csv(latest(kedro_project, "data/08_reporting/variant_comparison.csv"))
    row = table.set_index("variant").loc["small_cnn"]
    assert row["site_b roc_auc"] == pytest.approx(metrics["per_domain"]["site_b"]["at_threshold"]["roc_auc"])

    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("crack_pipeline")
    (run,) = [r for r in client.search_runs([experiment.experiment_id]) if r.info.run_name == "small_cnn"]
    logged = run.data.metrics["test.per_domain.site_a.at_threshold.balanced_accuracy"]
    assert logged == pytest.approx(metrics["per_domain"]["site_a"]["at_threshold"]["balanced_accuracy"])
    champion = client.get_model_version_by_alias("crack-classifier", "champion")
    assert json.loads(champion.tags["domains"]) == list(DOMAINS), "what a run may name, checked before it"

    # A folder of site_b's photos, named so, is scored as the split's site_b images are: at site_b's own
    # threshold, each patch whole (at site_a's 64 px, or the pooled side, a 96-px patch is cut into tiles).
    with logged_lines() as lines:
        run_session(
            kedro_project,
            {"evaluate_folder": {"path": str(tmp_path / "site_b"), "domain": "site_b"}},
            pipeline_names=["evaluate_folder"],
        )
    assert any(
        "evaluate_folder: model small_cnn (version 1) on site_b images at 64 px, larger images in tiles of "
        "96 px" in line
        for line in lines
    )
    scored = json.loads(latest(kedro_project, "data/08_reporting/evaluate_folder/metrics.json").read_text())
    assert (scored["domain"], scored["tiled_images"]) == ("site_b", 0)
    assert scored["at_threshold"]["threshold"] == own["site_b"]["value"]
    assert trained["patch_side"] < SIDES["site_b"], "pooled, site_b's patches would have been tiled"
