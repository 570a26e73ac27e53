"""fastdiff: exact all-to-all duplicate and near-duplicate image search."""

__version__ = "0.1.0"
