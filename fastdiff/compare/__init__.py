"""Stage 3, compare: each block pair yields its matching pairs (`blocks`): the MSE kernel (`kernel`), exact
pruning (`prune`), the threshold-0 hash join (`hash_join`), the pairing rules (`pairing`) and the pair format
(`pairs`)."""
