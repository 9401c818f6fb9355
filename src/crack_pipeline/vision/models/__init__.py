"""Models: the registry, self-describing checkpoints, numeric precision and inference-ready models."""
