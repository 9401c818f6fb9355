"""Training: the loop, readable top to bottom."""
