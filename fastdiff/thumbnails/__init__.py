"""Stage 2, thumbnails: decode each index shard (`decode`, `png_wuffs`, `composite`) into a batch of square
thumbnails with their hashes and cell sums (`build`), stored in the batch format (`batch`)."""
