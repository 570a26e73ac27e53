"""Test-only fault injection, imported at start-up by every Python process that has this folder on PYTHONPATH
(the fastdiff CLI, Snakemake, and every job it starts, locally or under SLURM).

FASTDIFF_SLOW_WRITES=SECONDS     hold each atomic output of fastdiff (a hidden `.NAME.*.tmp` written in full)
                                 that long before it is renamed onto its final name, so that a test can kill the
                                 run while a given stage is writing;
FASTDIFF_SLOW_WRITES_MATCH=REGEX only outputs whose final path matches (default: all).
Nothing here changes what is written, only when.
"""

import os

if os.environ.get("FASTDIFF_SLOW_WRITES"):
    import re
    import time

    _DELAY = float(os.environ["FASTDIFF_SLOW_WRITES"])
    _MATCH = re.compile(os.environ.get("FASTDIFF_SLOW_WRITES_MATCH", ""))
    _replace = os.replace

    def _slow_replace(src, dst, *args, **kwargs):
        name = os.path.basename(os.fspath(src))
        if name.startswith(".") and name.endswith(".tmp") and _MATCH.search(os.fspath(dst)):
            time.sleep(_DELAY)
        return _replace(src, dst, *args, **kwargs)

    os.replace = _slow_replace
