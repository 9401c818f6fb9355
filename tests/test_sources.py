"""Several folders as named domains: ingest keeps each image's domain and parent photo, a split keeps
each domain's classes in proportion and its photos whole, evaluation reports every domain."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as sk

from crack_pipeline.pipelines.ingest.nodes import scan_images
from crack_pipeline.pipelines.split.nodes import split_images
from crack_pipeline.pipelines.train.variants import warn_of_domains_at_the_pooled_threshold
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.sources import (
    Source,
    domain_of_folder,
    domain_of_key,
    image_keys,
    scan_sources,
)
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.evaluate import evaluate_probabilities, labelled_metrics
from crack_pipeline.vision.evaluation.metrics import (
    threshold_for_recall,
    threshold_lines,
    threshold_on_validation,
)
from crack_pipeline.vision.models.checkpoint import domain_threshold_values, threshold_text
from tests.conftest import image_bytes, write

INGEST = {"label_aliases": DEFAULT_ALIASES, "min_side": 32, "max_pixels": 10**7, "workers": 1}


def wall_patches(root, photos, per_photo, seed):
    """Patches named `<photo>-<n>.png` as SDNET names them; even photos cracked, odd ones clean."""
    for photo in photos:
        folder = "Positive" if photo % 2 == 0 else "Negative"
        for n in range(per_photo):
            write(root, f"{folder}/{photo}-{n}.png", image_bytes(seed=seed + 100 * photo + n))
    return root


def test_domains_and_parent_photos_are_kept_and_never_shared_between_domains(tmp_path):
    # Both data sets number their photos 1..6 and name files alike: still distinct images and groups.
    a = wall_patches(tmp_path / "walls_a", range(1, 7), 3, seed=0)
    b = wall_patches(tmp_path / "walls_b", range(1, 7), 2, seed=5000)
    sources = [Source("a", Folder.scan(a), r"^(\d+)-"), Source("b", Folder.scan(b), r"^(\d+)-")]
    index = scan_sources(sources, DEFAULT_ALIASES, workers=1).index
    assert index.groupby("domain").size().to_dict() == {"a": 18, "b": 12}
    assert len(set(image_keys(index))) == 30, "every image has its own key although paths repeat"
    assert index.loc[index.path == "Positive/2-0.png", "group"].tolist() == ["a:2", "b:2"]
    assert index.groupby("domain").group.nunique().to_dict() == {"a": 6, "b": 6}
    assert {domain_of_key(k) for k in image_keys(index)} == {"a", "b"}
    assert (index.root[index.domain == "b"] == str(b)).all()


def test_the_same_bytes_in_two_domains_are_one_image_or_a_conflict(tmp_path):
    write(tmp_path / "a", "Positive/x.png", image_bytes(seed=1))
    write(tmp_path / "a", "Negative/y.png", image_bytes(seed=2))
    write(tmp_path / "b", "cracked/copy_of_x.png", image_bytes(seed=1))  # same label: one image
    write(tmp_path / "b", "Positive/copy_of_y.png", image_bytes(seed=2))  # other label: a conflict
    write(tmp_path / "b", "Negative/z.png", image_bytes(seed=3))
    sources = [Source(name, Folder.scan(tmp_path / name)) for name in ("a", "b")]
    index = scan_sources(sources, DEFAULT_ALIASES, workers=1).index
    index.index = image_keys(index)
    copy = index.loc["b/cracked/copy_of_x.png"]
    assert (copy.status, copy.duplicate_of, copy.group) == ("ok", "a/Positive/x.png", "a:Positive/x.png")
    assert index.loc[["a/Negative/y.png", "b/Positive/copy_of_y.png"], "status"].tolist() == [
        "label_conflict",
        "label_conflict",
    ]
    assert index.loc["b/Negative/z.png", "status"] == "ok"


def test_sources_come_from_data_sources_with_errors_naming_the_entry(tmp_path):
    a = wall_patches(tmp_path / "a", range(2), 2, seed=0)
    data = {
        "sources": [
            {"domain": "site_a", "path": str(a)},
            {"domain": "site_b", "path": str(tmp_path / "nope")},
        ]
    }
    with pytest.raises(
        InputError, match=r"data\.sources\[1\] \(site_b\): image folder .*nope.* does not exist"
    ):
        scan_images(None, INGEST, data)
    with pytest.raises(InputError, match=r"data\.sources\[0\]\.folder: unknown setting"):
        scan_images(None, INGEST, {"sources": [{"domain": "a", "folder": str(a)}]})
    twice = r"data\.sources\[0\]\.domain, data\.sources\[1\]\.domain: 'a' used more than once"
    with pytest.raises(InputError, match=twice):
        scan_images(None, INGEST, {"sources": [{"domain": "a", "path": str(a)}] * 2})
    with pytest.raises(InputError, match=r"data\.sources\[0\]\.domain: 'a/b' is not a plain name"):
        scan_images(None, INGEST, {"sources": [{"domain": "a/b", "path": str(a)}]})
    with pytest.raises(InputError, match=r"^data\.domain: 'a/b' is not a plain name"):  # one folder's
        scan_images(Folder.scan(a), INGEST, {"domain": "a/b"})
    with pytest.raises(InputError, match="data.source_dir is not set"):
        scan_images(None, INGEST, {})
    with pytest.raises(InputError, match=r"data\.source_dir \(/site_c\) is set, but data\.sources lists"):
        scan_images(None, INGEST, {"sources": [{"domain": "a", "path": str(a)}], "source_dir": "/site_c"})
    index, _ = scan_images(Folder.scan(a), INGEST, {"domain": None})
    assert set(index.domain) == {"a"}, "one folder alone is the domain of its name"


def test_a_generic_folder_name_takes_its_parents():
    assert domain_of_folder("data/01_raw/synthetic/images") == "synthetic"
    assert domain_of_folder("/data/ozgenel_dev") == "ozgenel_dev"
    assert domain_of_folder("/data/Site 7 (north)") == "Site_7_north"


def test_a_split_keeps_each_domains_classes_in_proportion_and_its_photos_whole(tmp_path):
    big = wall_patches(tmp_path / "big", range(40), 5, seed=0)  # 20 cracked and 20 clean photos
    small = wall_patches(tmp_path / "small", range(10), 2, seed=9000)
    data = {
        "sources": [
            {"domain": "big", "path": str(big), "group_pattern": r"^(\d+)-"},
            {"domain": "small", "path": str(small), "group_pattern": r"^(\d+)-"},
        ]
    }
    index, _ = scan_images(None, INGEST, data)
    split = {"ratios": {"train": 0.6, "val": 0.2, "test": 0.2}, "seed": 3}
    manifest, _ = split_images(index, split, {"variants": []})
    assert manifest.groupby("group").split.nunique().max() == 1, "a parent photo never straddles splits"
    for domain, total in (("big", 200), ("small", 20)):
        rows = manifest[manifest.domain == domain]
        for label in ("crack", "no_crack"):
            sizes = rows[rows.label == label].split.value_counts()
            expected = {"train": 0.6 * total / 2, "val": 0.2 * total / 2, "test": 0.2 * total / 2}
            per_photo = 5 if domain == "big" else 2
            for split, size in expected.items():
                assert abs(sizes.get(split, 0) - size) <= per_photo, (domain, label, sizes.to_dict())


def test_evaluation_reports_every_domain_as_scikit_learn_computes_it():
    rng = np.random.default_rng(0)
    domains = np.array(["a"] * 30 + ["b"] * 20)
    labels = rng.integers(0, 2, 50)
    probability = np.clip(labels * 0.5 + rng.normal(0.25, 0.3, 50), 0, 1)
    data = ImageTensors(
        images=torch.zeros((50, 3, 8, 8), dtype=torch.uint8),
        labels=torch.as_tensor(labels),
        paths=[f"{d}/img{i}.png" for i, d in enumerate(domains)],
    )
    result = evaluate_probabilities("m", data, probability, 0.4, domains=domains.tolist())
    for domain in ("a", "b"):
        mine = result.metrics["per_domain"][domain]["at_threshold"]
        y, p = labels[domains == domain], probability[domains == domain]
        assert mine["n"] == len(y)
        assert mine["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, p >= 0.4))
        assert mine["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p))
        assert result.metrics["per_domain"][domain]["at_half"]["recall"] == pytest.approx(
            sk.recall_score(y, p >= 0.5)
        )
    assert result.metrics["at_threshold"]["n"] == 50, "pooled as before"
    assert (result.predictions.domain == domains).all()
    one = evaluate_probabilities("m", data, probability, 0.4, domains=["a"] * 50)
    assert "per_domain" not in one.metrics and "domain" not in one.predictions
    # Without figures (a champion scored again for its metrics): the same metrics and table, no figure.
    bare = evaluate_probabilities("m", data, probability, 0.4, domains=domains.tolist(), figures=False)
    assert bare.figures == {} and bare.metrics == result.metrics
    assert bare.predictions.equals(result.predictions)


def test_a_domain_s_threshold_is_chosen_for_its_own_recall_where_it_has_one_and_says_from_how_many():
    rng = np.random.default_rng(2)
    domains = np.array(["big"] * 400 + ["small"] * 60)
    labels = np.tile([0, 1], 230)
    probability = np.clip(labels * 0.4 + rng.uniform(0, 0.6, 460), 0, 1)
    chosen = threshold_on_validation(labels, probability, 0.99, domains.tolist(), {"small": 0.9})
    small = domains == "small"
    assert chosen["per_domain"]["small"]["value"] == threshold_for_recall(
        labels[small], probability[small], 0.9
    )
    assert chosen["per_domain"]["small"]["target_recall"] == 0.9
    big = chosen["per_domain"]["big"]
    assert big["value"] == threshold_for_recall(labels[~small], probability[~small], 0.99)
    assert big["target_recall"] == 0.99, "a domain not named keeps train.target_recall"
    assert chosen["value"] == threshold_for_recall(labels, probability, 0.99), "the pooled one unchanged"
    for record, mine in ((chosen, np.ones(460, bool)), (big, ~small), (chosen["per_domain"]["small"], small)):
        y, called = labels[mine], probability[mine] >= record["value"]
        assert record["validation_cracks"] == int(y.sum())
        assert record["validation_specificity"] == pytest.approx(sk.recall_score(y, called, pos_label=0))
        assert record["validation_recall"] == pytest.approx(sk.recall_score(y, called))


def test_a_domain_with_few_validation_images_of_a_class_is_decided_at_the_pooled_threshold(caplog):
    """A new site's 8 validation cracks would set its own threshold at its faintest crack."""
    rng = np.random.default_rng(3)
    domains = np.array(["old"] * 400 + ["site"] * 18 + ["clean_only"] * 40)
    labels = np.concatenate([np.tile([0, 1], 200), [1] * 8 + [0] * 10, [0] * 40])
    probability = np.clip(labels * 0.5 + rng.uniform(0, 0.5, len(labels)), 0, 1)
    probability[400] = 0.0002  # the site's faintest crack
    chosen = threshold_on_validation(labels, probability, 0.99, domains.tolist(), {"site": 0.95}, 30)
    assert set(chosen["per_domain"]) == {"old"}
    assert chosen["pooled_for"] == {
        "site": {"crack": 8, "clean": 10},
        "clean_only": {"crack": 0, "clean": 40},
    }
    assert chosen["value"] == threshold_for_recall(labels, probability, 0.99), "the pooled one as before"
    _, per_image = labelled_metrics(
        labels, probability, chosen["value"], domains, domain_threshold_values(chosen)
    )
    assert (per_image[domains == "site"] == chosen["value"]).all(), "the site decided at the pooled threshold"
    assert (per_image[domains == "old"] == chosen["per_domain"]["old"]["value"]).all()
    assert threshold_lines(chosen)[-2:] == [
        "for domain clean_only: the pooled one (its validation images: 0 crack, 40 clean; one of its own "
        "needs train.own_threshold_min_images of each)",
        "for domain site: the pooled one (its validation images: 8 crack, 10 clean; one of its own needs "
        "train.own_threshold_min_images of each)",
    ]
    with caplog.at_level(logging.WARNING):
        warn_of_domains_at_the_pooled_threshold("lite0", chosen, {"site": 0.95}, 30)
    warned = [record.getMessage() for record in caplog.records]
    assert warned[0] == (
        "train: lite0: domain site has 8 crack and 10 clean validation images, fewer than "
        "train.own_threshold_min_images (30) of each: its images are decided at the pooled threshold; "
        "label more of site for one of its own"
    )
    assert len(warned) == 2 and "names site, which has no threshold of its own" in warned[1]
    assert not any("clean_only" in line for line in warned), "a domain of clean images alone is no mistake"
    fewest = threshold_on_validation(labels, probability, 0.99, domains.tolist(), None, 8)
    assert set(fewest["per_domain"]) == {"old", "site"} and fewest["per_domain"]["site"]["value"] < 0.001
    assert fewest["pooled_for"] == {"clean_only": {"crack": 0, "clean": 40}}
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # every domain below the least: none has one, of several
        warn_of_domains_at_the_pooled_threshold(
            "lite0",
            threshold_on_validation(labels, probability, 0.99, domains.tolist(), None, 300),
            {"site": 0.95},
            300,
        )
    assert "which has no threshold of its own here" in caplog.records[-1].getMessage()
    assert caplog.records[-1].getMessage().endswith(": none, each has fewer)"), "not 'one domain alone'"


def test_the_training_log_says_what_each_threshold_gives_and_when_the_faintest_crack_sets_it():
    labels = np.array([0, 1] * 60 + [1] * 80)  # 60 cracks in "few", 200 in "many"
    domains = ["few"] * 120 + ["many"] * 80
    probability = np.linspace(0, 1, 200)
    chosen = threshold_on_validation(labels, probability, 0.99, domains)
    pooled, few, many = threshold_lines(chosen)
    assert pooled.startswith(f"{chosen['value']:.4f} for recall 0.99 on validation (there: recall ")
    few_record = chosen["per_domain"]["few"]
    assert few.startswith(
        f"for domain few: {threshold_text(few_record['value'])} for recall 0.99 on validation (there: "
    )
    assert "of 60 cracks, specificity" in few
    assert "recall 0.99 of 60 cracks leaves none to miss: the faintest sets it" in few
    assert few.endswith("(a lower train.target_recall_by_domain.few leaves some))")
    (alone,) = threshold_lines(few_record)  # one domain: its pooled threshold, train.target_recall's
    assert alone.endswith("(a lower train.target_recall leaves some))")
    assert "of 140 cracks" in pooled and "leaves none to miss" not in pooled  # 1 of 140 may be missed
    assert "specificity" not in many and "leaves none" in many, "80 cracks, no clean image"
    assert threshold_lines({**chosen, "per_domain": {}}, cracks_in_validation=False) == [
        f"{chosen['value']:.4f} for recall 0.99 on validation (recall there: n/a, no crack in validation)"
    ]


def test_each_domain_is_decided_at_its_own_threshold_where_it_has_one():
    rng = np.random.default_rng(1)
    domains = np.array(["easy"] * 40 + ["faint"] * 40)
    labels = np.tile([0, 1], 40)
    shift = np.where(domains == "faint", 0.15, 0.5)  # faint cracks score low
    probability = np.clip(labels * shift + rng.uniform(0, 0.1, 80), 0, 1)
    chosen = threshold_on_validation(labels, probability, 0.99, domains=domains.tolist())
    for domain in ("easy", "faint"):
        mine = domains == domain
        assert chosen["per_domain"][domain]["value"] == threshold_for_recall(
            labels[mine], probability[mine], 0.99
        )
    assert chosen["value"] == threshold_for_recall(labels, probability, 0.99), (
        "the pooled one, for unknown sites"
    )
    own = {"easy": chosen["per_domain"]["easy"]["value"]}  # faint: none of its own, the pooled one decides
    data = ImageTensors(
        images=torch.zeros((80, 3, 8, 8), dtype=torch.uint8),
        labels=torch.as_tensor(labels),
        paths=[f"{d}/{i}.png" for i, d in enumerate(domains)],
    )
    result = evaluate_probabilities(
        "m", data, probability, chosen["value"], domains=domains.tolist(), domain_thresholds=own
    )
    per_image = np.where(domains == "easy", own["easy"], chosen["value"])
    decided = probability >= per_image
    assert (result.predictions.predicted_label == np.where(decided, "crack", "no_crack")).all()
    assert result.metrics["at_threshold"]["accuracy"] == pytest.approx(np.mean(decided == labels))
    assert result.metrics["at_threshold"]["threshold"] is None, "several thresholds: none to name"
    easy = result.metrics["per_domain"]["easy"]["at_threshold"]
    assert easy["threshold"] == own["easy"] > chosen["value"]
    assert result.metrics["per_domain"]["faint"]["at_threshold"]["threshold"] == chosen["value"]


def test_old_style_frames_without_domain_fail_clearly():
    from crack_pipeline.pipelines.split.nodes import require_roots

    with pytest.raises(InputError, match="did not record the folder and domain"):
        require_roots(pd.DataFrame({"path": ["a.png"], "root": ["/x"]}))


def test_the_general_environment_lists_valid_sources(monkeypatch):
    from crack_pipeline.config import environment_parameters
    from crack_pipeline.pipelines.ingest.nodes import SourceSetting
    from crack_pipeline.pipelines.train.variants import variant_settings
    from crack_pipeline.vision.data.sources import check_domains
    from crack_pipeline.vision.settings import settings_from
    from crack_pipeline.vision.training.config import TrainConfig
    from tests.conftest import PROJECT_ROOT

    monkeypatch.chdir(PROJECT_ROOT)
    parameters = environment_parameters("general")
    sources = [settings_from(SourceSetting, s, "data.sources") for s in parameters["data"]["sources"]]
    check_domains([s.domain for s in sources])
    assert [s.domain for s in sources] == ["ozgenel", "sdnet_walls", "cfd_tiles", "synthetic"]
    assert parameters["train"]["defaults"]["balance_domains"] is True
    assert parameters["train"]["defaults"]["augment"]["blur"] == 1.5, "base settings kept under the overrides"
    train = parameters["train"]
    lite0 = variant_settings(train, train["models"]["efficientnet_lite0"])
    recipe = settings_from(TrainConfig, lite0, "general")  # a valid training configuration
    assert (recipe.schedule, recipe.patience, recipe.freeze_backbone_epochs) == ("onecycle", recipe.epochs, 0)
    own_recall = train["target_recall_by_domain"]
    assert own_recall and set(own_recall) <= {s.domain for s in sources}, "domains the recipe trains on"


def test_a_folder_listed_twice_or_inside_another_source_is_refused(tmp_path):
    """The same images in two domains would be counted, trained on and tested twice (they were: a folder
    listed twice ingested every image twice, without a word)."""
    a = wall_patches(tmp_path / "a", range(4), 2, seed=0)
    b = wall_patches(tmp_path / "b", range(4), 2, seed=50)
    (tmp_path / "link_to_a").symlink_to(a)
    for second, how in (
        (a, "is the folder of"),
        (tmp_path / "link_to_a", "is the folder of"),
        (a / "Positive", "lies inside the folder of"),
        (tmp_path, "holds the folder of"),
    ):
        data = {"sources": [{"domain": "site_a", "path": str(a)}, {"domain": "again", "path": str(second)}]}
        expected = rf"data\.sources\[1\] \(again\): its folder .* {how} data\.sources\[0\]"
        with pytest.raises(InputError, match=expected):
            scan_images(None, INGEST, data, require_labels=False)
    separate = [{"domain": "site_a", "path": str(a)}, {"domain": "site_b", "path": str(b)}]
    index, _ = scan_images(None, INGEST, {"sources": separate})
    assert len(index) == 16, "two separate folders: each image once"


def test_a_listed_folder_none_of_whose_files_is_kept_is_named(tmp_path):
    """A domain of several whose every file was skipped (masks, raw files, a wrong folder) was left out of
    the run, trained and measured on the others, with only a count of skipped files to say so."""
    a = wall_patches(tmp_path / "a", range(2), 2, seed=0)
    write(tmp_path / "b", "Positive/notes.txt", b"not an image")
    write(tmp_path / "b", "Negative/broken.png", b"not a png")
    data = {
        "sources": [{"domain": "site_a", "path": str(a)}, {"domain": "site_b", "path": str(tmp_path / "b")}]
    }
    with pytest.raises(InputError, match=r"^data\.sources\[1\] \(site_b\): no usable image in .*b: ingest: "):
        scan_images(None, INGEST, data)


def test_a_folder_with_no_usable_image_says_why_in_one_readable_line(tmp_path):
    """`evaluate_folder.path` of junk ended `skipped 2   skipped, corrupt_or_truncated: ...   skipped, ...`:
    the summary's lines joined by spaces, their indents between them."""
    from crack_pipeline.pipelines.ingest.nodes import scan_folder_images

    write(tmp_path, "notes.txt", b"not an image")
    write(tmp_path, "tiny.png", image_bytes(size=(8, 8)))  # under min_side
    with pytest.raises(InputError) as raised:
        scan_folder_images(Folder.scan(tmp_path), INGEST)
    message = str(raised.value)
    assert message.startswith(
        f"no usable image in {tmp_path}: evaluate_folder: scanned 2 files, kept 0 (crack 0, no_crack 0), "
        "skipped 2; skipped, "
    )
    assert "  " not in message and message.count("; skipped, ") == 2


def test_the_reports_of_several_domains_name_each_file_by_its_domain(tmp_path):
    """`Negative/y.png = a/Negative/y.png` did not say which domain's Negative/y.png was the copy, and
    `'Postive' (1 files)` which folder of the sources held it."""
    from crack_pipeline.vision.data.scanning import summary_lines

    write(tmp_path / "a", "Positive/x.png", image_bytes(seed=1))
    write(tmp_path / "a", "Negative/y.png", image_bytes(seed=2))
    write(tmp_path / "b", "Negative/y.png", image_bytes(seed=2))
    write(tmp_path / "b", "Positive/broken.png", b"not a png")
    sources = [Source(name, Folder.scan(tmp_path / name)) for name in ("a", "b")]
    lines = summary_lines(scan_sources(sources, DEFAULT_ALIASES, workers=1).index)
    assert (
        "  kept, exact duplicates (each kept in the same split as its copy): 1 — "
        "b/Negative/y.png = a/Negative/y.png" in lines
    )
    assert any(line.startswith("  skipped, not_an_image: 1 — b/Positive/broken.png (") for line in lines)
    write(tmp_path / "b", "Postive/z.png", image_bytes(seed=3))
    sources = [Source(name, Folder.scan(tmp_path / name)) for name in ("a", "b")]
    with pytest.raises(
        InputError, match=r"^domain b \(.*/b\): no class label for the files in: 'Postive' \(1 file: z.png\)"
    ):
        scan_sources(sources, DEFAULT_ALIASES, workers=1)
    one = summary_lines(scan_sources(sources[:1], DEFAULT_ALIASES, workers=1).index, "explain input")
    assert one[0].startswith("explain input: scanned 2 files")


def test_a_domain_s_own_recall_keyed_by_a_name_of_digits_as_yaml_reads_it():
    """`target_recall_by_domain: {2024: 0.5}` (unquoted: YAML reads an int) names domain "2024", as
    `explain.domain=2024` does: its threshold is chosen for 0.5, and a name that is none of the model's is
    warned of, not a TypeError after training (", ".join of an int)."""
    import yaml

    from crack_pipeline.pipelines.train.nodes import validation_threshold
    from crack_pipeline.pipelines.train.variants import domain_recalls, variant_setup
    from crack_pipeline.vision.settings import ConfigError

    train = yaml.safe_load("target_recall_by_domain: {2024: 0.5, 1999: 0.9}")
    recalls = domain_recalls(train)
    assert recalls == {"2024": 0.5, "1999": 0.9}
    rng = np.random.default_rng(0)
    labels = np.array(([1] * 10 + [0] * 10) * 2)
    domains = ["2024"] * 20 + ["site"] * 20
    data = ImageTensors(
        images=torch.zeros((40, 3, 8, 8), dtype=torch.uint8),
        labels=torch.as_tensor(labels),
        paths=[f"{d}/{i}.png" for i, d in enumerate(domains)],
    )
    chosen = validation_threshold(data, rng.random(40), None, 0.99, recalls)
    assert chosen["per_domain"]["2024"]["target_recall"] == 0.5
    assert chosen["per_domain"]["site"]["target_recall"] == 0.99
    unknown = sorted(set(recalls) - set(chosen["per_domain"]))
    assert ", ".join(unknown) == "1999"  # the warning's words
    defaults = {"target_recall": 0.99, "image_size": 64, "defaults": {}}
    with pytest.raises(ConfigError, match=r"train\.target_recall_by_domain: a domain's name"):
        variant_setup(
            "net", {"architecture": "small_cnn"}, {**defaults, "target_recall_by_domain": {True: 1}}
        )


def test_a_domain_without_a_crack_in_validation_gets_no_threshold_of_its_own_and_stops_nothing():
    # "blank" has clean validation images only: no recall to choose for, the pooled threshold decides it.
    domains = ["walls"] * 6 + ["blank"] * 4
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 0, 0, 0])
    probability = np.array([0.1, 0.7, 0.2, 0.8, 0.3, 0.9, 0.05, 0.4, 0.6, 0.15])
    chosen = threshold_on_validation(labels, probability, 1.0, domains)
    assert list(chosen["per_domain"]) == ["walls"]
    assert chosen["value"] == threshold_for_recall(labels, probability, 1.0)


def test_a_target_recall_of_1_is_not_explained_as_rounding():
    # Asked for every crack, none may be missed by choice: no "a lower target_recall leaves some" advice.
    labels, probability = np.array([0, 1] * 5), np.linspace(0, 1, 10)
    (line,) = threshold_lines(threshold_on_validation(labels, probability, 1.0))
    assert "recall 1.000 of 5 cracks" in line and "leaves none to miss" not in line


def test_the_predictions_table_calls_an_image_at_the_threshold_a_crack_as_the_metrics_do():
    # A confident model's threshold can be a crack's own p(crack) (1.0, no clean image below it): the table
    # must say what the metrics counted.
    from crack_pipeline.vision.evaluation.evaluate import labelled_metrics, predictions_table

    data = ImageTensors(
        images=torch.zeros((3, 3, 8, 8), dtype=torch.uint8),
        labels=torch.tensor([1, 1, 0]),
        paths=["a.jpg", "b.jpg", "c.jpg"],
    )
    probability = np.array([1.0, 0.4, 0.2])
    table = predictions_table(data, probability, 1.0)
    assert table.predicted_label.tolist() == ["crack", "no_crack", "no_crack"]
    metrics, _ = labelled_metrics(data.labels.numpy(), probability, 1.0)
    assert metrics["at_threshold"]["tp"] == (table.predicted_label == "crack").sum() == 1
