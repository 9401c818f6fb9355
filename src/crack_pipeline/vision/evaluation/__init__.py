"""Evaluation: classification metrics, thresholds, calibration and plots."""
