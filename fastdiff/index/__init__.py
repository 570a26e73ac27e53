"""Stage 1, index: scan partitions A and B into a deterministic file order (`scan`), laid out in shards and blocks
kept from run to run (`layout`)."""
