"""difPy-exact mode (config `compat: difpy`): difPy 4.2.1's results reproduced exactly, by a second implementation
of the index, thumbnails, compare and merge stage functions (chosen in `fastdiff.run.stages`).

Line numbers refer to difPy 4.2.1's dif.py (`pip install difPy==4.2.1`). What is reproduced, and how:

* enumeration (L96-173, L811-834): the arguments are string-sorted, each directory is listed by the very `glob` call
  difPy makes (run from `base_dir`, so paths stay as given), paths are `normpath`ed, the extension is the text after
  the last dot of the whole path; image IDs are positions in that list, so failed files consume IDs too.
* tensors (L229-248): Pillow opens the file, converts anything but RGB, and resizes to px x px with BICUBIC; any
  Pillow UserWarning or DecompressionBombWarning makes the file invalid, with difPy's message.
* the metric (L697-717): `mean(square(a - b))` on uint8, so differences and squares wrap modulo 256, minimum over
  rotations 0/90/180 (counter-clockwise) of the image with the higher ID only. Equal tensors are a match with 0.0
  (L445, L456); the wrap-around metric of equal tensors is 0 anyway, so no separate test is needed.
* grouping (L533-562), lower_quality (L564-633, L733-742) and stats (L748-805) follow difPy line by line, over the
  matches only, in Python: they are O(matches), not O(pairs).

The compare stage is vectorised: pairs of a tile are gathered in batches and summed over growing slices of a fixed
permutation of the values; every element contributes 0..255, so a partial sum above the threshold rules a pair out
early and unrelated pairs cost a few hundred values instead of 3 x 7500. With the 'duplicates' threshold a match
needs every difference to be a multiple of 16 (x*x mod 256 == 0 iff x mod 16 == 0), i.e. equal low nibbles, which
are matched by hashing in O(n).
"""
