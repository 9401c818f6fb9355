import numpy as np
import pandas as pd
import pytest

from crack_pipeline.vision.splitting import SplitError, stratified_group_split

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


def test_too_few_images_of_a_class():
    labels = ["crack"] * 2 + ["no_crack"] * 30
    with pytest.raises(SplitError, match="class 'crack' has 2 image group"):
        stratified_group_split(labels, [str(i) for i in range(32)], RATIOS, seed=0)


def test_two_way_split_without_test():
    labels = ["crack"] * 10 + ["no_crack"] * 10
    splits = stratified_group_split(labels, [str(i) for i in range(20)], {"train": 0.8, "val": 0.2}, seed=0)
    assert set(splits) == {"train", "val"}
