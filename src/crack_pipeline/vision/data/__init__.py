"""Data: safe decoding, scanning and labels, splits, synthetic data, augmentation, the tensor cache."""
