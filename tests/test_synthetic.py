"""The synthetic data set: determinism, masks that sit on the cracks, and no global-statistics shortcut."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from crack_pipeline.pipelines.synth.nodes import synth_config
from crack_pipeline.vision.data.image_io import decode_image
from crack_pipeline.vision.data.synthetic import SynthConfig, generate, render_sample
from crack_pipeline.vision.settings import ConfigError

SMALL = SynthConfig(count_per_class=4, image_size=96, seed=7)


def test_same_seed_gives_byte_identical_files_whatever_the_worker_count():
    images_a, masks_a = generate(SMALL, workers=1)
    images_b, masks_b = generate(SMALL, workers=2)
    assert images_a == images_b and masks_a == masks_b
    assert sorted(images_a)[:2] == ["Negative/intact_00001.jpg", "Negative/intact_00002.jpg"]
    assert len(images_a) == 8 and len(masks_a) == 4
    assert set(masks_a) == {name.replace(".jpg", ".png") for name in images_a if name.startswith("Positive/")}


def test_other_seed_gives_other_images():
    other = SynthConfig(count_per_class=4, image_size=96, seed=8)
    assert generate(SMALL, workers=1)[0] != generate(other, workers=1)[0]


def test_files_decode_at_the_configured_size():
    images, masks = generate(SMALL, workers=1)
    for data in list(images.values()) + list(masks.values()):
        assert decode_image(data).pixels.shape == (96, 96, 3)


@pytest.mark.parametrize("difficulty", [0.0, 0.5, 1.0])
def test_mask_covers_a_thin_dark_structure(difficulty):
    config = SynthConfig(count_per_class=1, seed=3, difficulty=difficulty)
    for index in range(1, 6):
        sample = render_sample(config, True, index)
        grey = sample.image.mean(axis=2)
        share = sample.mask.mean()
        assert 0.002 < share < 0.15, "a crack is a thin structure, not empty and not a blob"
        assert grey[sample.mask].mean() < grey[~sample.mask].mean() - 10, "crack pixels are darker"
    assert render_sample(config, False, 1).mask is None


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="difficulty"):
        SynthConfig(difficulty=1.5)
    with pytest.raises(ValueError, match="count_per_class"):
        SynthConfig(count_per_class=0)
    with pytest.raises(ValueError, match="seed"):  # numpy, seeding each sample, crashed on it
        SynthConfig(seed=-1)
    for quality in (-5, 0, 500):  # Pillow wrote -5 as its default 75, 500 as 100, without a word
        with pytest.raises(ValueError, match="jpeg_quality"):
            SynthConfig(jpeg_quality=quality)
    assert SynthConfig(jpeg_quality=100).jpeg_quality == 100


def global_statistics(image: np.ndarray) -> np.ndarray:
    grey = image.mean(axis=2)
    histogram = np.histogram(grey, bins=32, range=(0, 255))[0] / grey.size
    percentiles = np.percentile(grey, [1, 5, 25, 50, 75, 95, 99])
    channels = image.reshape(-1, 3)
    return np.concatenate(
        [[grey.mean(), grey.std()], channels.mean(0), channels.std(0), histogram, percentiles]
    )


@pytest.mark.parametrize("difficulty", [0.5, 1.0])
def test_no_shortcut_through_global_image_statistics(difficulty):
    """A logistic regression on mean, std, histogram and percentiles must not separate the classes."""
    config = SynthConfig(count_per_class=80, seed=11, difficulty=difficulty)
    features, labels = [], []
    for positive in (True, False):
        for index in range(1, config.count_per_class + 1):
            features.append(global_statistics(render_sample(config, positive, index).image.astype(float)))
            labels.append(int(positive))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    accuracy = cross_val_score(model, np.array(features), np.array(labels), cv=5).mean()
    assert accuracy <= 0.65, (
        f"global statistics reach {accuracy:.3f} accuracy: the synthetic data has a shortcut"
    )


def test_synthetic_patches_mixed_into_real_training_images():
    import torch

    from crack_pipeline.vision.data.synthetic import render_patches
    from crack_pipeline.vision.data.tensor_cache import ImageTensors, with_synthetic

    names, images, labels = render_patches(SynthConfig(count_per_class=3, seed=1), 48)
    assert (
        images.shape == (6, 3, 48, 48) and images.dtype == np.uint8 and labels.tolist() == [1, 1, 1, 0, 0, 0]
    )
    assert all(name.startswith("synthetic/") for name in names)
    real = ImageTensors(
        torch.zeros((4, 3, 48, 48), dtype=torch.uint8), torch.tensor([0, 1, 0, 1]), list("abcd")
    )
    assert with_synthetic(real, 0, seed=42) is real
    mixed = with_synthetic(real, 3, seed=42)
    assert len(mixed) == 10 and mixed.labels.tolist() == [0, 1, 0, 1, 1, 1, 1, 0, 0, 0]
    assert torch.equal(mixed.images[:4], real.images) and mixed.paths[:4] == list("abcd")
    # Never the synthetic data set's own images (seed 42), which may be its test split.
    own = render_patches(SynthConfig(count_per_class=3, seed=42), 48)[1]
    assert not any(np.array_equal(own[i], mixed.images[4 + i].numpy()) for i in range(6))


def test_a_typo_in_the_synthetic_settings_is_named_with_every_setting_there_is_workers_too():
    """`synth.worker` listed count_per_class ... jpeg_quality, not `workers`, which the node reads apart."""
    with pytest.raises(ConfigError) as refused:
        synth_config({"worker": 2})
    assert str(refused.value) == (
        "bad settings: synth.worker: unknown setting (a typo?); synth's settings: count_per_class, "
        "image_size, seed, difficulty, jpeg_quality, workers"
    )
    assert synth_config({"workers": 2, "seed": 3}).seed == 3
