"""crack_pipeline: explainable crack detection on concrete surface photos."""

__version__ = "0.1.0"
