"""Memory that Snakemake jobs declare (resources mem_mb): models measured on the decoders fastdiff uses."""

from __future__ import annotations

import math

# Peak resident bytes of one decode + thumbnail, per pixel of the image, worst case over the formats and paths of
# fastdiff.decode (measured with ru_maxrss in a fresh process per decode, 16 Mpx images; benchmarks/decode_memory.py):
# Wuffs PNG (where decode._wuffs_fits) 8-bit RGBA 11.4, 16-bit RGB 9.2; OpenCV 16-bit RGBA PNG/TIFF 11.3-11.4
# (8 bytes/px of samples + 3 of composite), progressive 4:4:4 JPEG 9.1, uncompressed TIFF 10.3, lossless WebP with
# alpha 8.3, BMP 6.2, baseline JPEG 3.2. Rounded up to 12.
DECODE_BYTES_PER_PIXEL = 12
# The job's own footprint: Python with numpy, OpenCV, Pillow, Wuffs, and the batch of thumbnails being built
# (measured 137 MB peak for 970 photos with 2 threads; 400 leaves room for a 1000-file shard at large px_size).
BASE_MB = 400


def thumbnails_mem_mb(threads: int, max_pixels: int, attempt: int) -> int:
    """Memory (MB, 2**20 bytes) a thumbnail job declares: every thread decoding an image of max_pixels at once.

    Parameters
    ----------
    threads : int
        Decoding threads of the job (config `threads`).
    max_pixels : int
        The largest image the decoder accepts (config `max_pixels`); larger ones are rejected from their header.
    attempt : int
        Snakemake's attempt number (1 on the first run); a retry after a kill for memory asks for that many times more.

    Returns
    -------
    int
        ``attempt * (BASE_MB + threads * ceil(max_pixels * DECODE_BYTES_PER_PIXEL / 2**20))``; for the defaults
        (2 threads, 89,478,485 pixels) 2,448 MB on the first attempt.
    """
    return attempt * (BASE_MB + threads * math.ceil(max_pixels * DECODE_BYTES_PER_PIXEL / 2**20))
