"""Benchmark hook: with this folder on PYTHONPATH and FASTDIFF_RSS_LOG set, every Python process (fastdiff,
Snakemake, each job's script) appends one JSON line {pid, argv, maxrss_mb, seconds} to that file when it exits."""

import os

if os.environ.get("FASTDIFF_RSS_LOG"):
    import atexit
    import json
    import resource
    import sys
    import time

    _START = time.time()

    @atexit.register
    def _record() -> None:
        line = json.dumps(
            {
                "pid": os.getpid(),
                "argv": sys.argv,
                "seconds": round(time.time() - _START, 3),
                "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
        fd = os.open(os.environ["FASTDIFF_RSS_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
