import numpy as np
import pandas as pd
import pytest

from crack_pipeline.vision.data.splitting import (
    SplitError,
    check_split_settings,
    extend_split,
    stratified_group_split,
)

RATIOS = {"train": 0.7, "val": 0.15, "test": 0.15}


def counts(labels, splits):
    return pd.crosstab(pd.Series(splits, name="split"), pd.Series(labels, name="label"))


def test_stratified_exact_counts_and_seeded():
    labels = ["crack"] * 100 + ["no_crack"] * 60
    groups = [f"f{i}" for i in range(160)]
    splits = stratified_group_split(labels, groups, RATIOS, seed=1)
    table = counts(labels, splits)
    assert table.loc["train"].tolist() == [70, 42]
    assert table.loc["val"].tolist() == [15, 9]
    assert table.loc["test"].tolist() == [15, 9]
    np.testing.assert_array_equal(splits, stratified_group_split(labels, groups, RATIOS, seed=1))
    assert (splits != stratified_group_split(labels, groups, RATIOS, seed=2)).any()


def test_groups_never_straddle_splits():
    rng = np.random.default_rng(0)
    groups = [f"photo{rng.integers(0, 40)}" for _ in range(400)]
    labels = ["crack" if int(g[5:]) % 2 else "no_crack" for g in groups]
    splits = stratified_group_split(labels, groups, RATIOS, seed=3)
    frame = pd.DataFrame({"group": groups, "split": splits})
    assert (frame.groupby("group").split.nunique() == 1).all()
    shares = frame.split.value_counts(normalize=True)
    assert 0.55 < shares["train"] < 0.85 and shares["val"] > 0.05 and shares["test"] > 0.05


def test_subset_fraction_keeps_classes_balanced():
    labels = ["crack"] * 200 + ["no_crack"] * 200
    splits = stratified_group_split(labels, [str(i) for i in range(400)], RATIOS, seed=0, subset_fraction=0.1)
    table = counts(labels, splits).drop(index="", errors="ignore")
    assert table.sum().tolist() == [20, 20]
    assert (splits == "").sum() == 360


@pytest.mark.parametrize(
    ("ratios", "message"),
    [
        ({"train": 0.7, "val": 0.2, "test": 0.2}, "sum to 1"),
        ({"train": 0.0, "val": 0.5, "test": 0.5}, "train > 0"),
        ({"train": 0.8, "valid": 0.2}, "unknown splits"),
    ],
)
def test_impossible_ratios(ratios, message):
    with pytest.raises(SplitError, match=message):
        stratified_group_split(["crack", "no_crack"] * 10, [str(i) for i in range(20)], ratios, seed=0)


def test_a_run_without_validation_images_is_refused_before_it_starts():
    """Training would run every epoch, keep the starting weights and then find no threshold to choose."""
    with pytest.raises(SplitError, match=r"^split\.ratios\.val must be above 0"):
        check_split_settings({"ratios": {"train": 0.85, "val": 0, "test": 0.15}})
    check_split_settings({"ratios": {"train": 0.8, "val": 0.2}})  # without a test split: as before


def test_too_few_images_of_a_class():
    labels = ["crack"] * 2 + ["no_crack"] * 30
    with pytest.raises(SplitError, match="class 'crack' has 2 image group"):
        stratified_group_split(labels, [str(i) for i in range(32)], RATIOS, seed=0)


def test_too_few_groups_counts_the_groups_a_class_shares_with_a_larger_one():
    """SDNET patches of 4 cracked wall photos: 2 of them hold more clean patches than cracked ones, so the
    message said 2 groups where the user counted 4."""
    labels = ["crack"] * 4 + ["crack", "no_crack", "no_crack"] * 2 + ["no_crack"] * 30
    groups = ["a", "a", "b", "b", "c", "c", "c", "d", "d", "d"] + [f"n{i}" for i in range(30)]
    expected = (
        r"class 'crack' has 2 image group\(s\) \(2 more hold some of its images, but more of another "
        r"class: a group counts for the class most of its images have\); at least 3 are needed"
    )
    with pytest.raises(SplitError, match=expected):
        stratified_group_split(labels, groups, RATIOS, seed=0)


def test_a_class_the_majority_of_no_group_is_placed_in_every_split():
    """Wall photos whose patches are mostly clean: cracks are the majority of no photo, so stratifying by
    majority never placed them, and one with all of them in training left test without a crack."""
    labels, groups = [], []
    for wall in range(40):  # 10 patches a wall; 4 walls hold one crack each
        for i in range(10):
            labels.append("crack" if i == 0 and wall < 4 else "no_crack")
            groups.append(f"wall{wall}")
    labels = np.array(labels)
    for fraction in (1.0, 0.1):
        for seed in range(5):
            splits = stratified_group_split(labels, groups, RATIOS, seed=seed, subset_fraction=fraction)
            assert set(splits[labels == "crack"]) - {""} == set(RATIOS), (fraction, seed)
            frame = pd.DataFrame({"group": groups, "split": splits})
            assert (frame.groupby("group").split.nunique() == 1).all(), "walls stay whole"
    shares = pd.Series(stratified_group_split(labels, groups, RATIOS, seed=0)).value_counts(normalize=True)
    assert 0.6 < shares["train"] < 0.8, "the walls still split by the ratios"
    # Fewer walls hold a crack than there are splits: said, not a split with a class missing.
    few = ["no_crack"] * 18 + ["no_crack", "no_crack", "crack"] * 2
    photos = [f"p{i // 3}" for i in range(18)] + ["x", "x", "x", "y", "y", "y"]
    expected = (
        r"class 'crack' is the majority of none of its image groups .*, and its images fall only in "
        r"\['\w+', '\w+'\]: \w+ would have none \(at least 3 groups must hold some of it\)\. Add images of it"
    )
    with pytest.raises(SplitError, match=expected):
        stratified_group_split(few, photos, RATIOS, seed=0)
    kept = stratified_group_split(few, photos, RATIOS, seed=0, every_split=False)
    assert (kept != "").all(), "without every_split (a retrain's few new images): no such demand"


def test_a_small_subset_of_large_groups_keeps_a_group_for_every_split():
    """split.subset_fraction 0.1 of wall photos of 50 patches each: a tenth of a class's images fits in one
    photo, which stopped the run ("1 image group(s)"); it keeps one photo per split instead."""
    labels = ["crack"] * 250 + ["no_crack"] * 250
    groups = [f"c{i // 50}" for i in range(250)] + [f"n{i // 50}" for i in range(250)]
    splits = stratified_group_split(labels, groups, RATIOS, seed=0, subset_fraction=0.1)
    table = counts(labels, splits).drop(index="", errors="ignore")
    assert (table > 0).all().all() and set(table.index) == set(RATIOS)
    assert table.sum().tolist() == [150, 150], "a photo in each split, no more"


def test_two_way_split_without_test():
    labels = ["crack"] * 10 + ["no_crack"] * 10
    splits = stratified_group_split(labels, [str(i) for i in range(20)], {"train": 0.8, "val": 0.2}, seed=0)
    assert set(splits) == {"train", "val"}


def test_extend_split_keeps_every_earlier_assignment_and_splits_only_new_groups():
    labels = ["crack"] * 40 + ["no_crack"] * 40
    groups = [f"g{i}" for i in range(80)]
    before = stratified_group_split(labels, groups, RATIOS, seed=1)
    # 20 new images per class, one of them a new photo of an earlier test group.
    grown_labels = labels + ["crack"] * 20 + ["no_crack"] * 20
    test_group = groups[list(before).index("test")]
    grown_groups = groups + [test_group] + [f"new{i}" for i in range(39)]
    previous = list(before) + [""] * 40

    after = extend_split(grown_labels, grown_groups, previous, RATIOS, seed=7)

    assert list(after[:80]) == list(before), "no earlier image changes split"
    assert after[80] == "test", "a new photo of an earlier test group joins it"
    new = after[81:]
    assert set(new) == {"train", "val", "test"} and (new == "train").sum() > (new == "test").sum()


def test_extend_split_with_a_handful_of_new_images_never_fails():
    labels = ["crack"] * 10 + ["no_crack"] * 10 + ["crack"]
    previous = list(stratified_group_split(labels[:20], [str(i) for i in range(20)], RATIOS, seed=0)) + [""]
    after = extend_split(labels, [str(i) for i in range(21)], previous, RATIOS, seed=0)
    assert after[-1] == "train", "one new image goes where the ratios want most"
    with pytest.raises(SplitError, match="unknown splits"):
        extend_split(labels[:1], ["a"], ["holdout"], RATIOS, seed=0)


def test_images_that_arrive_a_few_at_a_time_fill_every_split_by_the_ratios():
    labels = ["crack"] * 100 + ["no_crack"] * 100
    groups = [f"g{i}" for i in range(200)]
    splits = list(stratified_group_split(labels, groups, RATIOS, seed=42))
    for night in range(30):  # 3 new images of each class a night
        labels += ["crack"] * 3 + ["no_crack"] * 3
        groups += [f"n{night}_{i}" for i in range(6)]
        splits = list(extend_split(labels, groups, splits + [""] * 6, RATIOS, seed=42))
    added = pd.Series(splits[200:]).value_counts()
    # 180 new images: about 126 / 27 / 27, as when they arrive at once (the old rule put all in train).
    assert 120 <= added["train"] <= 132 and 24 <= added["val"] <= 30 and 24 <= added["test"] <= 30
    table = counts(labels, splits)
    assert (table.loc["test"] == table.loc["val"]).all() and (table.loc["test"] >= 28).all()


def test_a_group_whose_earlier_images_span_splits_keeps_each_where_it_was(caplog):
    # Photo 7000's tiles were train and 7001's test; a copy of a 7001 tile now names 7000: one group.
    groups = ["7000", "7000", "7000", "7000"]
    previous = ["train", "train", "test", ""]
    with caplog.at_level("WARNING"):
        after = extend_split(["crack"] * 4, groups, previous, RATIOS, seed=0)
    assert list(after[:3]) == previous[:3], "no image the champion learned reaches test"
    assert after[3] == "test", "a new image of the group goes to the first split it spans of test, val, train"
    assert "1 image group(s) already span several splits" in caplog.text


def test_two_classes_the_majority_of_no_group_leave_no_other_class_out_of_a_split():
    """Two classes the majority of no group (cracks and spalling in mostly clean photos, a few photos mostly
    efflorescence): each placed one group per split, and two efflorescence photos carrying them could land
    in one split while the third could not fill the other two, so training had no efflorescence, unsaid."""
    photos = {f"e{i}": {"efflorescence": 20} for i in range(3)} | {f"c{i}": {"clean": 20} for i in range(10)}
    for photo in ("e0", "c0", "c1"):
        photos[photo]["crack"] = 2
    for photo in ("e1", "c2", "c3"):
        photos[photo]["spalling"] = 2
    labels = np.array([label for parts in photos.values() for label, n in parts.items() for _ in range(n)])
    groups = [photo for photo, parts in photos.items() for n in parts.values() for _ in range(n)]
    for seed in range(40):
        splits = stratified_group_split(labels, groups, RATIOS, seed=seed)
        for label in set(labels):
            assert set(splits[labels == label]) == set(RATIOS), (seed, label)


def test_a_split_s_share_of_a_class_rounds_to_the_nearest_whole_image():
    # 25 images a class at 15 %: 3.75 images go to val and to test as 4, not 3 (truncated), train the rest.
    labels = ["crack"] * 25 + ["no_crack"] * 25
    splits = stratified_group_split(labels, [f"f{i}" for i in range(50)], RATIOS, seed=0)
    table = counts(labels, splits)
    assert table.loc["val"].tolist() == [4, 4] and table.loc["test"].tolist() == [4, 4]
    assert table.loc["train"].tolist() == [17, 17]


def test_a_group_tied_between_two_classes_counts_for_the_first_by_name():
    # Photo "t" holds one crack patch and one clean one: it counts for "crack" (the first by name), which
    # then has the three groups a split each needs; counted for "no_crack", crack had two and was refused.
    labels = ["crack", "crack", "crack", "no_crack"] + ["no_crack"] * 6
    groups = ["a", "b", "t", "t"] + [f"c{i}" for i in range(6)]
    splits = stratified_group_split(labels, groups, RATIOS, seed=0)
    cracks = {split for split, label in zip(splits, labels, strict=True) if label == "crack"}
    assert cracks == {"train", "val", "test"}


def test_a_subset_fraction_of_true_is_refused_not_read_as_1():
    # YAML's `subset_fraction: yes` is a bool, which Python counts as the number 1.
    with pytest.raises(SplitError, match="subset_fraction must be in"):
        check_split_settings({"ratios": RATIOS, "subset_fraction": True})
