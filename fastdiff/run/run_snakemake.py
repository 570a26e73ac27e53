"""`python -m fastdiff.run.run_snakemake ARGS`: Snakemake's command line, without its idle second at exit.

Snakemake 9's job scheduler arms a non-daemon threading.Timer of its job rate limiter (1 s by default) after each
scheduling round, only to wake the scheduler again; the last of them keeps the interpreter alive for up to that
second after the workflow has finished. Once Snakemake has returned they have nothing left to wake, so they are
cancelled.
"""

from __future__ import annotations

import sys
import threading

from snakemake.cli import main as snakemake_main


def main() -> None:
    """Run Snakemake with this process's arguments, then cancel its rate limiter's timers."""
    try:
        snakemake_main(sys.argv[1:])
    finally:
        for thread in threading.enumerate():
            if isinstance(thread, threading.Timer):
                thread.cancel()


if __name__ == "__main__":
    main()
