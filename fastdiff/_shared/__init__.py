"""Small helpers every layer uses: atomic writes, lossless paths, plural words, special files, job logging."""
