"""Explanations: CAMs, whole photos in tiles, crack regions, localisation scores and the gallery."""
