import pytest

from crack_pipeline.vision.data.labels import DEFAULT_ALIASES, LabelResolver, UnknownLabelFolders


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("Positive/00001.jpg", "crack"),
        ("Negative/00001.jpg", "no_crack"),
        ("crack/a.png", "crack"),
        ("no_crack/a.png", "no_crack"),
        ("cracked/a.png", "crack"),
        ("uncracked/a.png", "no_crack"),
        ("1_cracked/a.png", "crack"),
        ("0_uncracked/a.png", "no_crack"),
        ("D/CD/7001-1.jpg", "crack"),  # SDNET2018: deck, cracked
        ("P/UP/001-2.jpg", "no_crack"),  # SDNET2018: pavement, uncracked
        ("W/CW/x.jpg", "crack"),
        ("site_a/POSITIVE/x.jpg", "crack"),  # case-insensitive, grouping folders above
        ("Positive/extra/Negative/x.jpg", "no_crack"),  # the nearest matching folder wins
    ],
)
def test_default_aliases(path, label):
    assert LabelResolver(DEFAULT_ALIASES).label_of(path) == label


def test_unmatched_folders_are_listed_with_the_setting_to_change():
    resolver = LabelResolver(DEFAULT_ALIASES)
    with pytest.raises(UnknownLabelFolders) as caught:
        resolver.require_labels(["Positive/a.jpg", "weird/b.jpg", "weird/c.jpg", "top.jpg"])
    message = str(caught.value)
    assert "'weird' (2 files, e.g. b.jpg)" in message and "<top level> (1 file: top.jpg)" in message
    assert "ingest.label_aliases" in message


def test_custom_wildcard_aliases():
    resolver = LabelResolver({"crack": ["defect*"], "no_crack": ["ok"]})
    assert resolver.label_of("defects_2024/x.jpg") == "crack"
    assert resolver.label_of("Positive/x.jpg") is None


def test_aliases_matching_both_classes_are_rejected():
    resolver = LabelResolver({"crack": ["c*"], "no_crack": ["clean"]})
    with pytest.raises(ValueError, match="both classes"):
        resolver.label_of("clean/x.jpg")


def test_unknown_class_name_in_config():
    with pytest.raises(ValueError, match="unknown classes"):
        LabelResolver({"cracks": ["Positive"]})


def test_a_class_s_aliases_that_are_no_list_are_named_and_a_folder_of_digits_is_its_name():
    """`crack: Positive` was matched letter by letter (Positive/ then reported unlabelled), and `crack: [1]`
    (SDNET-style folders 1/ and 0/, numbers in YAML) failed with a raw AttributeError inside the scan."""
    from crack_pipeline.settings_check import check_run_settings
    from crack_pipeline.vision.settings import ConfigError

    with pytest.raises(
        ConfigError, match=r"^ingest\.label_aliases\.crack: a list of folder names, .* 'Positive'"
    ):
        LabelResolver({"crack": "Positive", "no_crack": ["Negative"]})
    digits = LabelResolver({"crack": [1], "no_crack": [0]})
    assert (digits.label_of("1/a.jpg"), digits.label_of("0/b.jpg")) == ("crack", "no_crack")

    from kedro.pipeline import Node, Pipeline

    reads = Pipeline([Node(lambda i: i, "params:ingest", "index", name="scan")])
    with pytest.raises(ConfigError, match=r"^bad settings: ingest\.label_aliases\.no_crack: a list"):
        check_run_settings(reads, {"ingest": {"label_aliases": {"crack": ["Positive"], "no_crack": None}}})
    check_run_settings(reads, {"ingest": {"label_aliases": DEFAULT_ALIASES}})


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("histogram_images", 0),
        ("sample_grid_size", "x"),
        ("sample_grid_size", -1),
        ("min_side", 0),
        ("workers", 0),
    ],
)
def test_ingest_numbers_out_of_range_are_named_before_the_run(setting, value):
    """0 histogram images stopped the scan with a ZeroDivisionError, a grid of 'x' or -1 images the run with
    numpy's error once every file had been decoded (hours for a large folder)."""
    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings
    from crack_pipeline.vision.settings import ConfigError

    reads = Pipeline([Node(lambda i: i, "params:ingest", "index", name="scan")])
    ingest = {"label_aliases": DEFAULT_ALIASES, "min_side": 32, "max_pixels": 10**7, "workers": None}
    with pytest.raises(ConfigError, match=rf"^bad settings: ingest\.{setting}: Input should be"):
        check_run_settings(reads, {"ingest": {**ingest, setting: value}})
    check_run_settings(reads, {"ingest": {**ingest, "histogram_images": 1, "sample_grid_size": 4}})
