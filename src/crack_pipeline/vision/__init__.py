"""Plain Python / PyTorch building blocks. Nothing in this package imports Kedro."""
