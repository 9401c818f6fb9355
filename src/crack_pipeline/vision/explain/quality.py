"""How good are the heatmaps? Localisation against crack masks next to baselines that know nothing of the
model, the model-randomisation sanity check, and deletion/insertion curves where no masks exist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.explain import localisation
from crack_pipeline.vision.explain.anomaly import ANOMALY, AnomalyExplainer
from crack_pipeline.vision.explain.cam import CamExplainer
from crack_pipeline.vision.explain.perturbation import deletion_insertion
from crack_pipeline.vision.explain.segment_quality import segment_line
from crack_pipeline.vision.models.inference import fold_batch_norms, inference_model
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import create_model

BASELINES = ("center", "random", "sobel")
SCOPES = ("patch", "photo")  # an image of at most one tile, a whole photo in tiles


def _new_scores() -> dict[str, list]:
    names = ("pointing_game", "energy_in_mask", "iou_top5", "mask_share", "detected")
    baselines = (f"baseline_{b}_{m}" for b in BASELINES for m in ("pointing", "energy"))
    return {name: [] for name in (*names, *baselines)}


def explainer_for(
    checkpoint: dict[str, Any],
    model,
    method: str,
    target: str,
    precision: Precision,
    threshold: float = 0.5,
) -> CamExplainer | AnomalyExplainer:
    """An explainer of `model` by `method` with the checkpoint's CAM layer and normalisation (a one-class
    model's anomaly map for `anomaly`); target "predicted" explains the class called at `threshold`."""
    if method == ANOMALY:
        return AnomalyExplainer(model, checkpoint["mean"], checkpoint["std"], precision)
    return CamExplainer(
        model,
        checkpoint["cam_layer"],
        checkpoint["mean"],
        checkpoint["std"],
        method=method,
        target=target,
        precision=precision,
        threshold=threshold,
    )


@dataclass
class MethodQuality:
    """The measurements of one CAM method over a run: mask scores per scope, and the maps of the first
    tiles explained, for the sanity check and the deletion/insertion curves."""

    scores: dict[str, dict[str, list]] = field(default_factory=lambda: {s: _new_scores() for s in SCOPES})
    sanity_maps: list[np.ndarray] = field(default_factory=list)
    sanity_classes: list[int] = field(default_factory=list)  # the class each sanity map explains

    def score(
        self, scope: str, heatmap: np.ndarray, mask: np.ndarray, image: np.ndarray, detected: bool, rng
    ) -> None:
        """One crack image's heatmap against its mask, and the baselines' maps against the same mask."""
        scores = self.scores[scope]
        scores["pointing_game"].append(localisation.pointing_game(heatmap, mask))
        scores["energy_in_mask"].append(localisation.energy_in_mask(heatmap, mask))
        scores["iou_top5"].append(localisation.top_k_iou(heatmap, mask, 5))
        scores["mask_share"].append(float(mask.mean()))
        scores["detected"].append(bool(detected))
        baselines = {
            "center": localisation.centre_gaussian(mask.shape),
            "random": localisation.random_map(mask.shape, rng),
            "sobel": localisation.sobel_map(image),
        }
        for name, baseline in baselines.items():
            scores[f"baseline_{name}_pointing"].append(localisation.pointing_game(baseline, mask))
            scores[f"baseline_{name}_energy"].append(localisation.energy_in_mask(baseline, mask))

    def summary(
        self,
        checkpoint: dict[str, Any],
        classifier: nn.Module,
        sanity_inputs: torch.Tensor,
        method: str,
        precision: Precision,
        seed: int,
    ) -> dict[str, Any]:
        """The sanity check and deletion/insertion (of `classifier`, the checkpoint's inference model) on the
        sanity tiles, and the mean localisation scores of patches (top level) and of whole photos (under
        `photo`)."""
        maps = np.stack(self.sanity_maps) if self.sanity_maps else np.empty((0, *sanity_inputs.shape[2:]))
        deletion, insertion = deletion_insertion(
            classifier,
            sanity_inputs,
            maps,
            self.sanity_classes,
            checkpoint["mean"],
            checkpoint["std"],
            precision,
        )
        quality: dict[str, Any] = {
            "sanity_rank_correlation": randomised_weights_correlation(
                checkpoint, sanity_inputs, method, self.sanity_classes, precision, seed
            ),
            "deletion_auc": deletion,
            "insertion_auc": insertion,
            "perturbation_images": len(sanity_inputs),
        }
        for scope, scores in self.scores.items():
            if scores["pointing_game"]:
                means = {"n": len(scores["pointing_game"])} | {
                    ("detection_rate" if k == "detected" else k): float(np.mean(v)) for k, v in scores.items()
                }
                if scope == "patch":
                    quality |= means
                else:
                    quality["photo"] = means
        return quality


def randomised_weights_correlation(
    checkpoint: dict[str, Any],
    images: torch.Tensor,
    method: str,
    classes: Sequence[int],
    precision: Precision,
    seed: int,
) -> float:
    """Mean Spearman correlation between the trained model's heatmaps and those of the same
    architecture with random weights, each image's for the class in `classes` (the one its run explained):
    near 1, the heatmaps show the image, not what the model learned (Adebayo et al., "Sanity checks for
    saliency maps")."""
    if len(images) == 0:
        return float("nan")
    torch.manual_seed(seed)
    maps = []
    for model in (inference_model(checkpoint, precision), _randomised(checkpoint)):
        explainer = explainer_for(checkpoint, model, method, "predicted", precision)
        maps.append(explainer.explain(images, [CLASS_NAMES[c] for c in classes]).heatmaps)
        explainer.close()
    correlations = [spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(*maps, strict=True)]
    return float(np.nanmean(correlations)) if not np.all(np.isnan(correlations)) else float("nan")


def quality_lines(quality: dict[str, Any]) -> list[str]:
    """Per method: a line of mask scores for the patches and one (`scope=photo`) for the whole photos
    where masks matched, else one of perturbation scores."""
    lines = []
    for method, q in quality.items():
        if "n" in q:
            lines.append(
                f"explain: method={method} n={q['n']} pointing_game={q['pointing_game']:.3f} "
                f"energy_in_mask={q['energy_in_mask']:.3f} "
                f"baseline_center={q['baseline_center_pointing']:.3f} "
                f"baseline_sobel={q['baseline_sobel_pointing']:.3f} "
                f"sanity_rank_correlation={q['sanity_rank_correlation']:.3f}"
            )
        if "photo" in q:
            p = q["photo"]
            lines.append(
                f"explain: method={method} scope=photo n={p['n']} detection_rate={p['detection_rate']:.3f} "
                f"pointing_game={p['pointing_game']:.3f} energy_in_mask={p['energy_in_mask']:.3f} "
                f"baseline_center={p['baseline_center_pointing']:.3f}/{p['baseline_center_energy']:.3f} "
                f"baseline_sobel={p['baseline_sobel_pointing']:.3f}/{p['baseline_sobel_energy']:.3f} "
                f"mask_share={p['mask_share']:.3f}"
            )
        if "segment" in q:
            lines.append(segment_line(method, q["segment"]))
        if "n" not in q and "photo" not in q:
            lines.append(
                f"explain: method={method} n={q['perturbation_images']} "
                f"deletion_auc={q['deletion_auc']:.3f} insertion_auc={q['insertion_auc']:.3f} "
                f"sanity_rank_correlation={q['sanity_rank_correlation']:.3f}"
            )
    return lines


def _randomised(checkpoint: dict[str, Any]) -> torch.nn.Module:
    """The checkpoint's architecture with random weights; a one-class model learned its bank, so it gets a
    random bank of the same size."""
    model = create_model(checkpoint["architecture"]).eval()
    if "head.bank" in checkpoint["state_dict"]:
        model.head.bank = torch.randn(checkpoint["state_dict"]["head.bank"].shape)
    return fold_batch_norms(model)
