"""fastdiff.run.run_snakemake: Snakemake's exit code is kept, and its leftover rate-limiter timers do not delay the
exit."""

from __future__ import annotations

import threading
import time

import pytest

from fastdiff.run import run_snakemake


@pytest.mark.parametrize("code", [0, 1])
def test_exit_code_is_kept_and_pending_timers_are_cancelled(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    fired = threading.Event()

    def snakemake_main(argv: list[str]) -> None:
        threading.Timer(60, fired.set).start()  # what the scheduler leaves behind after each round
        raise SystemExit(code)

    monkeypatch.setattr(run_snakemake, "snakemake_main", snakemake_main)
    started = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        run_snakemake.main()
    assert exit_info.value.code == code
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.join(timeout=5)
            assert not thread.is_alive()
    assert time.monotonic() - started < 5 and not fired.is_set()
