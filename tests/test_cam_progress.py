"""Heatmaps through training: the samples followed, the record per epoch, resume, and what a user sees."""

import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.explain.artefacts import summary_files
from crack_pipeline.vision.explain.cam_progress import (
    CamProgress,
    CamProgressConfig,
    cam_progress,
    progress_samples,
)
from crack_pipeline.vision.explain.cam_strips import progress_pictures
from crack_pipeline.vision.explain.rendering import gallery_html
from crack_pipeline.vision.settings import ConfigError, settings_from
from crack_pipeline.vision.training.loop import fit
from tests.test_training import killed_in_epoch_3
from tests.tiny_training import SPEC, config, seeded_model, tiny_split

FOLLOW = CamProgressConfig(every=1, samples=4)


def crack_mask_of(image: torch.Tensor) -> np.ndarray:
    """The tiny synthetic cracks are the darkest pixels: a stand-in mask for the pointing game."""
    grey = image.float().mean(0).numpy()
    return grey < np.percentile(grey, 3)


def observer(val: ImageTensors, settings: CamProgressConfig = FOLLOW) -> CamProgress:
    masks = {
        key: crack_mask_of(image)
        for key, image, label in zip(val.paths, val.images, val.labels, strict=True)
        if label
    }
    return cam_progress(SPEC, val, lambda names: {n: masks[n] for n in names if n in masks}, settings)


@pytest.fixture(scope="module")
def data():
    return tiny_split(24, seed=1), tiny_split(8, seed=2)


def test_the_samples_are_seeded_half_cracked_and_filled_from_the_other_class():
    labels = torch.tensor([0] * 10 + [1] * 10)
    picks = progress_samples(labels, 8, seed=3)
    assert picks == progress_samples(labels, 8, seed=3) != progress_samples(labels, 8, seed=4)
    assert [int(labels[i]) for i in picks] == [1] * 4 + [0] * 4 and len(set(picks)) == 8
    few_cracks = torch.tensor([0] * 10 + [1])
    assert sorted(int(few_cracks[i]) for i in progress_samples(few_cracks, 6, seed=0)) == [0] * 5 + [1]
    assert len(progress_samples(torch.tensor([0, 1]), 8, seed=0)) == 2


def test_an_epoch_is_explained_without_touching_the_model_being_trained(data):
    _, val = data
    model = seeded_model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    progress = observer(val)
    metrics = progress(model, 1)
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert 0 <= metrics["cam_pointing_game"] <= 1 and progress.seconds[0] > 0
    record = progress.state_dict()
    assert record["epochs"] == [1] and record["heatmaps"].shape == (1, 4, 80, 80)
    assert record["heatmaps"].dtype == torch.uint8 and record["heatmaps"].max() > 0
    assert record["labels"] == [1, 1, 0, 0]
    assert len(record["probabilities"][0]) == 4


def test_only_due_epochs_are_explained_and_off_means_no_observer(data):
    _, val = data
    progress = observer(val, CamProgressConfig(every=2, samples=2))
    model = seeded_model()
    assert progress(model, 1) == {} and progress(model, 3) == {}
    assert progress(model, 0) and progress(model, 2)
    assert progress.epochs == [0, 2]
    assert observer(val, CamProgressConfig(every=0)) is None
    with pytest.raises(ConfigError, match=r"^bad settings: train\.cam_progress\.method: unknown CAM method"):
        settings_from(CamProgressConfig, {"every": 1, "method": "nonsense"}, "train.cam_progress")


def test_training_records_every_epoch_and_a_killed_run_loses_none(data, tmp_path, monkeypatch):
    train, val = data
    settings = config(epochs=4)
    whole = observer(val)
    result = fit(seeded_model(5), SPEC, train, val, settings, observe_epoch=whole)
    assert [row["cam_pointing_game"] for row in result.history] == whole.pointing
    assert whole.epochs == [1, 2, 3, 4]

    resume = tmp_path / "small_cnn.pt"
    killed_in_epoch_3(
        monkeypatch,
        lambda: fit(
            seeded_model(5), SPEC, train, val, settings, resume_path=resume, observe_epoch=observer(val)
        ),
    )
    resumed = observer(val)
    fit(seeded_model(5), SPEC, train, val, settings, resume_path=resume, observe_epoch=resumed)
    assert resumed.epochs == [1, 2, 3, 4], "the epochs before the kill come back from the resume file"
    assert resumed.pointing == pytest.approx(whole.pointing)
    difference = (torch.stack(resumed.heatmaps).float() - torch.stack(whole.heatmaps).float()).abs()
    assert difference.max() <= 2  # the same weights, up to rounding in uint8


def test_the_record_goes_into_a_safe_checkpoint_and_renders_strips_and_a_gallery_section(data):
    _, val = data
    progress = observer(val)
    model = seeded_model()
    progress(model, 0)
    progress(model, 1)
    buffer = io.BytesIO()
    torch.save({"cam_progress": progress.state_dict()}, buffer)
    buffer.seek(0)
    record = torch.load(buffer, weights_only=True)["cam_progress"]

    files, links = progress_pictures(record, "small_cnn")
    strips = sorted(name for name in files if "overview" not in name)
    assert len(strips) == 4 and all(name.startswith("cam_progress/0") for name in strips)
    assert all(files[name].startswith(b"\x89PNG") for name in files)

    grid_pictures = {"layercam": {"crack": [(np.zeros((8, 8, 3), np.uint8), "a grid picture")]}}
    page = summary_files([], grid_pictures, "small_cnn", 0.5, links)["index.html"].decode()
    assert "grid_9.png" not in page.split("Where the model looked")[1].split("</details>")[0]
    assert "Where the model looked while it learned" in page and "cam_progress/overview.png" in page
    assert all(f'href="{name}"' in page for name in strips)
    record["names"][0] = '<img src=x onerror="alert(1)">.jpg'
    assert all("<" not in name and '"' not in name for name in progress_pictures(record, "small_cnn")[0])
    escaped = gallery_html(
        [], "m", 0.5, {"pointing": "<b>0: 1.00</b>", "overview": "o.png", "strips": ["cam_progress/<i>.png"]}
    )
    assert "<b>0" not in escaped and "<i>.png" not in escaped and "&lt;b&gt;0: 1.00" in escaped
    assert "Where the model looked" not in summary_files([], {}, "small_cnn", 0.5)["index.html"].decode()


def test_the_strips_and_overview_say_what_the_heatmaps_colours_mean(data):
    """The strips and overview of cam_progress/ (and evaluate's cam_progress.png) were the only heatmap
    pictures without the colour bar every panel and grid has: red said nothing of how it was scaled."""
    from PIL import Image

    from crack_pipeline.vision.explain import cam_strips
    from tests.test_rendering import _colour_bars

    _, val = data
    progress = observer(val)
    progress(seeded_model(), 0)
    record = progress.state_dict()
    files, _ = progress_pictures(record, "small_cnn")
    pictures = [np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in files.values()]
    pictures.append(cam_strips.progress_overview(record, "small_cnn"))  # evaluate's cam_progress.png
    # What MLflow's image slider shows, epoch by epoch (tracking logs these).
    pictures += [picture for _, _, picture in cam_strips.slider_pictures(record)]
    assert len(pictures) == 6 + 4
    for pixels in pictures:
        bar = _colour_bars(pixels, shortest=40)
        assert len(bar) == 10 and bar[0] > pixels.shape[0] * 0.5, "under the heatmaps, 10 px thick"


class _Page(HTMLParser):
    """What a browser shows of a gallery without running its script: the text of the colour scale's
    paragraph, whether it is inside a collapsed <details>, what comes after it, and the pictures shown."""

    def __init__(self) -> None:
        super().__init__()
        self.open, self.style, self.scale, self.pictures, self.order = [], "", None, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.open.append((tag, attrs.get("class"), attrs.get("id")))
        if tag == "p" and attrs.get("class") == "scale":
            self.scale = {"text": "", "folded": any(t == "details" for t, _, _ in self.open)}
        if tag == "img":
            self.pictures.append(attrs["src"])
        self.order.append(attrs.get("id") or attrs.get("class") or tag)

    def handle_endtag(self, tag):
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        if any(t == "style" for t, _, _ in self.open):
            self.style += data
        elif any(c == "scale" for _, c, _ in self.open):
            self.scale["text"] += data


def test_the_gallery_shows_the_colour_scale_of_its_heatmaps_above_them_in_their_colours(data):
    """The gallery's scale was tested as a string of its HTML: nothing said it was shown (not folded away),
    above the heatmaps, in the heatmaps' colours (three of its gradient's stops, typed by hand, were a few
    levels off jet's), nor that the heatmap pictures it shows without the cards' script carry their own."""
    from PIL import Image

    from crack_pipeline.vision.figures import jet
    from tests.test_rendering import _colour_bars

    _, val = data
    progress = observer(val)
    progress(seeded_model(), 0)
    files, links = progress_pictures(progress.state_dict(), "small_cnn")
    grid_pictures = {"layercam": {"crack": [(np.zeros((8, 8, 3), np.uint8), "a grid picture")]}}
    page = _Page()
    page.feed(summary_files([], grid_pictures, "small_cnn", 0.5, links)["index.html"].decode())
    assert page.scale is not None and not page.scale["folded"], "shown, not inside a <details>"
    assert page.order.index("scale") < min(page.order.index("cards"), page.order.index("progress"))
    text = " ".join(page.scale["text"].split())
    assert text.startswith("Heatmap colours: 0 low high 1 (heatmap: crack evidence, scaled per image")
    assert "a whole photo's: each tile's, weighted by its p(crack)" in text
    gradient = re.search(r"\.scale span\{[^}]*linear-gradient\(to right,([^)]*)\)", page.style).group(1)
    drawn = ["#{:02x}{:02x}{:02x}".format(*colour) for colour in jet(np.linspace(0, 1, 9)[None])[0]]
    assert gradient.split(",") == drawn, "the heatmaps' own colours from 0 to 1"
    assert page.pictures == [links["overview"]], "the one heatmap picture outside the cards' script"
    for picture in page.pictures:
        pixels = np.asarray(Image.open(io.BytesIO(files[picture])).convert("RGB"))
        assert len(_colour_bars(pixels, shortest=40)) == 10, picture
