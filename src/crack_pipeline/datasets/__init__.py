"""Custom Kedro datasets, only where kedro-datasets has none."""

from crack_pipeline.datasets.image_folder import ImageFolderDataset

__all__ = ["ImageFolderDataset"]
