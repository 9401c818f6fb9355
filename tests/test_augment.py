"""Field-photo augmentations: each does what it says on a batch, within range, reproducibly by seed."""

import numpy as np
import pytest
import torch

from crack_pipeline.vision.data.augment import AugmentConfig, augment

OFF = {"hflip": False, "translate": 0}


def line_image(size: int = 64, vertical: bool = True) -> torch.Tensor:
    """Mid-grey with one dark line through the centre, as a uint8 1 x 3 x size x size batch."""
    image = torch.full((1, 3, size, size), 160, dtype=torch.uint8)
    if vertical:
        image[..., size // 2 - 1 : size // 2 + 1] = 20
    else:
        image[..., size // 2 - 1 : size // 2 + 1, :] = 20
    return image


def run(images: torch.Tensor, seed: int = 0, **settings) -> torch.Tensor:
    return augment(images, AugmentConfig(**{**OFF, **settings}), torch.Generator().manual_seed(seed))


def test_nothing_asked_nothing_changed():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(run(images), images.float() / 255)


def test_rotation_turns_a_crack_to_any_direction_without_black_corners():
    image = line_image()
    turned = run(image.repeat(64, 1, 1, 1), rotate=180)
    assert turned.shape == (64, 3, 64, 64) and float(turned.min()) >= 0 and float(turned.max()) <= 1

    # A vertical line: dark along its column before; after turns, the dark pixels lie in other directions.
    def direction(picture: torch.Tensor) -> float:
        ys, xs = np.nonzero(picture[0].numpy() < 0.3)
        return float(np.degrees(np.arctan2(*np.polyfit(ys, xs, 1)[:1], 1)))

    angles = [direction(picture) for picture in turned]
    assert np.ptp(angles) > 60, "turned by many different angles"
    grey = run(torch.full((8, 3, 32, 32), 160, dtype=torch.uint8), rotate=180, scale=(0.5, 1.0))
    assert torch.allclose(grey, torch.full_like(grey, 160 / 255)), "corners filled by reflection, not black"


def test_zoom_makes_the_crack_wider_or_thinner():
    image = line_image()

    def dark_width(picture: torch.Tensor) -> float:
        return float((picture[0, 32, 20:44] < 0.4).sum())  # near the centre: zooming out shows reflections

    zoomed_in = run(image, scale=(2.0, 2.0))
    zoomed_out = run(image, scale=(0.5, 0.5))
    assert dark_width(zoomed_in[0]) >= 3 and dark_width(zoomed_out[0]) <= 2 < dark_width(zoomed_in[0])
    with pytest.raises(ValueError, match="scale"):
        AugmentConfig(scale=(2.0, 1.0))


def test_blur_softens_edges_noise_adds_grain_jpeg_adds_artefacts():
    image = line_image().repeat(32, 1, 1, 1)
    clean = image.float() / 255
    blurred = run(image, blur=2.0)
    edge = (clean[:, 0, 32, 30] - clean[:, 0, 32, 31]).abs()
    softened = (blurred[:, 0, 32, 30] - blurred[:, 0, 32, 31]).abs() < edge - 0.05
    assert 4 <= int(softened.sum()) <= 28, "about half the images blurred"
    noisy = run(image, noise=0.05)
    assert 0.005 < float((noisy - clean).std()) < 0.05
    compressed = run(image, jpeg=10)
    changed = ((compressed - clean).abs().amax(dim=(1, 2, 3)) > 1 / 255).sum()
    assert 4 <= int(changed) <= 28, "about half the images re-encoded"
    with pytest.raises(ValueError, match="JPEG quality"):
        AugmentConfig(jpeg=100)


def test_mirrors_and_quarter_turns_are_exact_and_drawn_per_image():
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    original = images.float() / 255
    mirrored = run(images, hflip=True)
    flipped = [torch.equal(mirrored[i], original[i].flip(2)) for i in range(16)]
    assert all(flipped[i] or torch.equal(mirrored[i], original[i]) for i in range(16))
    assert 0 < sum(flipped) < 16, "some images mirrored, others not"
    turned = run(images, seed=1, rot90=True)
    turns = [
        [k for k in range(4) if torch.equal(turned[i], torch.rot90(original[i], k, dims=(1, 2)))]
        for i in range(16)
    ]
    assert all(len(k) == 1 for k in turns), "each image turned a whole number of quarters"
    assert len({k for (k,) in turns}) > 1, "not all by the same"


def test_a_shift_moves_each_image_by_at_most_translate_pixels():
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    original = images.float() / 255
    shifted = run(images, translate=5)
    moves = []
    for i in range(16):
        inner = shifted[i, :, 5:27, 5:27]  # the pixels no border reflection reaches
        found = [
            (dy - 5, dx - 5)
            for dy in range(11)
            for dx in range(11)
            if torch.equal(inner, original[i, :, dy : dy + 22, dx : dx + 22])
        ]
        assert found, f"image {i} is not the original moved by up to 5 px"
        moves.append(found[0])
    assert len(set(moves)) > 1 and any(move != (0, 0) for move in moves)


def test_brightness_and_contrast_are_an_affine_change_of_each_image():
    images = torch.randint(64, 192, (16, 3, 32, 32), dtype=torch.uint8)  # no clipping at +-0.1
    original = (images.float() / 255).flatten(1)
    changed = run(images, brightness=0.1, contrast=0.1).flatten(1)
    gains, offsets = [], []
    for before, after in zip(original, changed, strict=True):
        design = torch.stack([before, torch.ones_like(before)], dim=1)
        gain, offset = torch.linalg.lstsq(design, after[:, None]).solution.flatten()
        torch.testing.assert_close(design @ torch.stack([gain, offset]), after, atol=1e-5, rtol=0)
        gains.append(float(gain))
        offsets.append(float(offset + (gain - 1) * before.mean()))  # the shift of the mean
    assert all(0.9 - 1e-5 <= g <= 1.1 + 1e-5 for g in gains) and np.std(gains) > 0.01, "contrast +-10 %"
    assert all(abs(o) <= 0.1 + 1e-5 for o in offsets) and np.std(offsets) > 0.01, "brightness +-0.1"


def test_colour_and_illumination_jitter():
    image = torch.full((16, 3, 32, 32), 128, dtype=torch.uint8)
    tinted = run(image, colour=0.2)
    means = tinted.mean(dim=(2, 3))
    assert float((means[:, 0] - means[:, 1]).abs().max()) > 0.02, "channels scaled apart (white balance)"
    assert float((means - 128 / 255).abs().max()) <= 0.2 * 128 / 255 + 1e-6
    lit = run(image, illumination=0.3)
    row = lit[:, 0].mean(dim=1)  # each image's column means
    spread = row.amax(dim=1) - row.amin(dim=1)
    assert float(spread.max()) > 0.05, "one side lit more than the other"


def test_the_same_seed_gives_the_same_batch():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    settings = {
        "rotate": 45,
        "scale": (0.8, 1.25),
        "blur": 1.0,
        "noise": 0.02,
        "jpeg": 50,
        "colour": 0.1,
        "illumination": 0.2,
        "hflip": True,
        "translate": 3,
    }
    assert torch.equal(run(images, 5, **settings), run(images, 5, **settings))
    assert not torch.equal(run(images, 5, **settings), run(images, 6, **settings))
