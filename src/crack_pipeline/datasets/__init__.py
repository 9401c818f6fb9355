"""Custom Kedro datasets, only where kedro-datasets has none."""

from crack_pipeline.datasets.checkpoint import CrackSegmenterDataset, TorchCheckpointDataset
from crack_pipeline.datasets.growing_folder import GrowingFolderDataset
from crack_pipeline.datasets.image_folder import ImageFolderDataset
from crack_pipeline.datasets.previous_version import (
    OptionalCSVDataset,
    OptionalJSONDataset,
    PreviousCSVDataset,
    PreviousJSONDataset,
)
from crack_pipeline.datasets.registered_model import (
    ChampionAliasDataset,
    ModelRegistryDataset,
    RegisteredModelDataset,
)
from crack_pipeline.datasets.tensor_cache import PreviousTensorCacheDataset, TensorCacheDataset
from crack_pipeline.datasets.whole_file import WholeCSVDataset, WholeJSONDataset

__all__ = [
    "ChampionAliasDataset",
    "CrackSegmenterDataset",
    "GrowingFolderDataset",
    "ImageFolderDataset",
    "ModelRegistryDataset",
    "OptionalCSVDataset",
    "OptionalJSONDataset",
    "PreviousCSVDataset",
    "PreviousJSONDataset",
    "PreviousTensorCacheDataset",
    "RegisteredModelDataset",
    "TensorCacheDataset",
    "TorchCheckpointDataset",
    "WholeCSVDataset",
    "WholeJSONDataset",
]
