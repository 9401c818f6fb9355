"""Models on new sites: batch-norm statistics of a target domain, and which images to label next."""
