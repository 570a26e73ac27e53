"""Running the workflow on a validated configuration: for `fastdiff run` and the difPy API alike.

The runner validates the configuration (folders, user functions) and builds the stage options once, writes the
configuration into OUT/work/config.yaml and holds a lock on the output folder. A local run then runs its jobs in this
process (`fastdiff.run.in_process`); otherwise (`--snakemake`, another profile, Snakemake arguments) it clears the lock
a killed Snakemake run left and starts Snakemake on the workflow of this package, handing it the stage options
(VALIDATED_ENV), so that Snakemake checks only the mapping's shape and uses those options. A dry run lists the plan's
jobs on both paths, then Snakemake's own dry run on the second.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from fastdiff._shared.atomic import atomic_open
from fastdiff.core.config import Config, load_config
from fastdiff.core.device import DeviceError
from fastdiff.core.made_by import STALE
from fastdiff.core.options import STAGE_OPTIONS, stage_params
from fastdiff.run.in_process import dry_run_lines, planned_jobs, run_here
from fastdiff.run.preflight import PreflightError, check_executor, check_run, executor_of, jobs_run_here
from fastdiff.run.screen import NORMAL, ProgressBar, Show, print_summary, start_line

PACKAGE = Path(__file__).resolve().parents[1]
CHECKOUT = PACKAGE.parent  # a checkout's top level: workflow/, config/, envs/, profiles/, examples/
# An install carries the checkout's workflow/, config/, envs/ and profiles/ inside the package (setup.py copies them
# into fastdiff/_workflow when it builds a wheel), so that any install runs the workflow; a checkout runs its own.
WORKFLOW_ROOT = PACKAGE / "_workflow" if (PACKAGE / "_workflow").is_dir() else CHECKOUT
SNAKEFILE = WORKFLOW_ROOT / "workflow" / "Snakefile"
DEFAULT_CONFIG = WORKFLOW_ROOT / "config" / "config.yaml"
PROFILES = WORKFLOW_ROOT / "profiles"
VALIDATED_ENV = "FASTDIFF_VALIDATED_CONFIG"  # digest of the config mapping the runner validated
# libyaml's parser for the workflow's own config files, where PyYAML has it: the same mappings, some ms sooner (not
# for writing: libyaml's emitter cannot write the surrogate escapes of a path that is not UTF-8)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RunError(RuntimeError):
    """The workflow cannot be started (no workflow, no such profile, output folder not writable, in use)."""


INTERRUPTED = 130  # run_workflow's exit code after a Ctrl-C (128 + SIGINT), with RESUME_LINE shown
RESUME_LINE = "interrupted; run the same command to resume (finished jobs are kept)"


def default_config() -> dict[str, Any]:
    """The workflow's config/config.yaml; its example part_a (relative to a checkout) made absolute, or left out
    where the package is installed without the examples."""
    raw: dict[str, Any] = yaml.load(DEFAULT_CONFIG.read_text(), Loader=SAFE_LOADER)
    raw["part_a"] = [str(CHECKOUT / d) for d in raw.get("part_a", []) if (CHECKOUT / d).is_dir()]
    return raw


def resolve_paths(raw: dict[str, Any]) -> dict[str, Any]:
    """The configuration with its paths made absolute against the current folder, and an output folder inside an
    input folder added to ignore_paths (never indexed).

    `fastdiff run` and plain `snakemake` (in the Snakefile) both resolve the configuration so: the same settings
    are the same configuration after this, and give the same options for every stage (a later run of either
    reuses what the other made).
    """
    raw = dict(raw)
    for key in ("part_a", "part_b", "ignore_paths", "prefer"):
        if key != "part_a" or raw.get("compat") != "difpy":  # difPy's arguments stay as given, under base_dir
            raw[key] = [os.path.abspath(p) for p in raw.get(key) or []]
    raw["output_dir"] = out = os.path.abspath(raw.get("output_dir") or "results")
    inputs = [os.path.join(raw.get("base_dir") or "", d) for d in [*raw.get("part_a", []), *raw["part_b"]]]
    inside = any(os.path.commonpath([out, os.path.abspath(d)]) == os.path.abspath(d) for d in inputs)
    if inside and out not in raw["ignore_paths"]:
        raw["ignore_paths"] = [*raw["ignore_paths"], out]
    return raw


def config_digest(raw: dict[str, Any]) -> str:
    """A digest of a config mapping as Snakemake reads it back from YAML."""
    canonical = json.dumps(yaml.safe_load(yaml.safe_dump(raw)), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validated_params(raw: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """The stage params the runner that started this Snakemake process built when it validated this very mapping,
    or None (another mapping, or no runner: plain `snakemake`)."""
    try:
        record = json.loads(os.environ.get(VALIDATED_ENV, "{}"))
    except json.JSONDecodeError:
        return None
    return record["params"] if record.get("config") == config_digest(dict(raw)) else None


def run_workflow(
    raw: dict[str, Any],
    cores: int,
    profile: str = "default",
    dry_run: bool = False,
    snakemake_args: Sequence[str] = (),
    show: Show = NORMAL,
    in_process: bool = True,
) -> int:
    """Validate `raw` and run the workflow on it; return its exit code (130 when interrupted).

    Parameters
    ----------
    raw : dict
        The full configuration mapping (paths absolute, output_dir included).
    cores : int
        Snakemake's --cores.
    profile : str
        A workflow profile shipped with the workflow ('default': local; 'slurm').
    dry_run : bool
        Only show the jobs.
    snakemake_args : sequence of str
        Passed to Snakemake unchanged.
    show : Show
        What to print besides errors (`fastdiff.run.screen`).
    in_process : bool
        Run a local run (the default profile, no Snakemake arguments) in this process (`fastdiff.run.in_process`)
        rather than through Snakemake.

    Raises
    ------
    ConfigError
        A bad configuration (nothing was started).
    RunError
        The workflow cannot be started (also a setting that could only fail inside a job, `fastdiff.run.preflight`);
        the message says why.
    """
    raw = resolve_paths(raw)
    config = load_config(raw)
    profile_dir = PROFILES / profile
    if not (profile_dir / "config.yaml").is_file():
        names = sorted(p.parent.name for p in PROFILES.glob("*/config.yaml"))
        raise RunError(f"no profile {profile!r}; available: {', '.join(names)}")
    try:
        settings = yaml.load((profile_dir / "config.yaml").read_text(), Loader=SAFE_LOADER) or {}
        executor = executor_of(settings, snakemake_args)
        check_executor(executor, f"the profile {profile!r}" if executor == settings.get("executor") else "--executor")
        check_run(config, jobs_here=jobs_run_here(settings, snakemake_args))
    except (PreflightError, DeviceError) as err:
        raise RunError(str(err)) from None
    workdir = Path(config.output_dir) / "work"
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        with atomic_open(workdir / "config.yaml", "w", encoding="utf-8") as fh:
            fh.write(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
        lock = open(workdir / ".fastdiff.lock", "w")  # noqa: SIM115 - held by the `with lock` below
    except OSError as err:
        raise RunError(f"cannot write to the output folder {config.output_dir}: {err.strerror or err}") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(f"another fastdiff run is using {config.output_dir}") from None
        params = {stage: stage_params(config, stage) for stage in STAGE_OPTIONS}
        here = in_process and profile == "default" and not snakemake_args
        if dry_run:
            print("\n".join(dry_run_lines(planned_jobs(config, params))), flush=True)
            if here:
                return 0
        if show.progress and not dry_run:
            print(start_line(config, examples=config.part_a == default_config()["part_a"]), flush=True)
        started = time.time()
        bar = ProgressBar(workdir, config, show.progress and not show.verbose and not dry_run)
        try:
            if here:
                code = _run_here(config, params, cores, bar, show.verbose)
            else:
                code = _run_snakemake(config, params, raw, cores, profile_dir, dry_run, snakemake_args, show, bar)
        except KeyboardInterrupt:
            bar.close()
            print(f"\nfastdiff: {RESUME_LINE}", file=sys.stderr)
            return INTERRUPTED
        bar.close(done=code == 0 and not dry_run)
        if code == 0 and show.summary and not dry_run:
            print_summary(config, time.time() - started)
        return code


def _run_here(config: Config, params: dict[str, dict[str, Any]], cores: int, bar: ProgressBar, verbose: bool) -> int:
    """A run in this process (`fastdiff.run.in_process`); 1 if a stage failed (its log has the traceback)."""
    started = time.time()
    try:
        run_here(config, params, cores, bar.update, verbose)
    except Exception as err:  # a stage's error, already in its job log: said in one line here
        bar.close()
        print(f"fastdiff: the run failed: {err}; the job logs are in {config.output_dir}/work/logs", file=sys.stderr)
        _explain_failure(Path(config.output_dir), Path(config.output_dir) / "work", started)
        return 1
    return 0


def _run_snakemake(
    config: Config,
    params: dict[str, dict[str, Any]],
    raw: dict[str, Any],
    cores: int,
    profile_dir: Path,
    dry_run: bool,
    snakemake_args: Sequence[str],
    show: Show,
    bar: ProgressBar,
) -> int:
    """Run Snakemake on the workflow (again, after a job removed a corrupt batch); its output goes to
    work/logs/snakemake.log unless show.verbose or a dry run."""
    workdir = Path(config.output_dir) / "work"
    _clear_stale_lock(workdir)
    cmd = [
        *_snakemake_command("fastdiff.run.run_snakemake", workdir),
        "--cores",
        str(cores),
        "--rerun-incomplete",
        "--scheduler",
        "greedy",
        "--workflow-profile",
        str(profile_dir),
        *(["--dry-run"] if dry_run else []),
        *snakemake_args,
    ]
    env = {**os.environ, VALIDATED_ENV: json.dumps({"config": config_digest(raw), "params": params})}
    log = None if show.verbose or dry_run else workdir / "logs" / "snakemake.log"
    started = time.time()
    code = _follow(cmd, env, log, bar)
    for _ in range(MAX_REBUILD_RUNS):  # a job found a corrupt or stale input and removed it: make it again now
        removed = [text for text in (CORRUPT_BATCH, STALE) if _job_logs_with(workdir, started, text)]
        if code == 0 or dry_run or not removed:
            break
        what = "a corrupt thumbnail batch" if CORRUPT_BATCH in removed else "a stale output"
        print(f"fastdiff: {what} was removed; running again to rebuild it", file=sys.stderr)
        started = time.time()
        code = _follow(cmd, env, log, bar)
    if code != 0:
        if log is not None:
            _show_failure(log)
        _explain_failure(Path(config.output_dir), workdir, started)
    return code


def _follow(cmd: list[str], env: dict[str, str], log: Path | None, bar: ProgressBar) -> int:
    """Run Snakemake (output to `log`, appended, if given) and redraw the bar until it ends.

    On Ctrl-C (which a terminal sends to Snakemake and its jobs too) wait for Snakemake to stop its jobs and remove
    their incomplete outputs, then raise KeyboardInterrupt.
    """
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") if log is not None else contextlib.nullcontext() as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT if out else None)
        try:
            while proc.poll() is None:
                bar.update()
                time.sleep(0.25)
            bar.update()
            return proc.returncode
        except KeyboardInterrupt:
            _stop(proc)
            raise


def _stop(proc: subprocess.Popen) -> None:
    """Stop Snakemake after a Ctrl-C: it has the SIGINT already when it came from a terminal; else send it one."""
    for signum, wait in ((None, 5), (signal.SIGINT, 60), (signal.SIGTERM, 30)):
        if signum is not None:
            proc.send_signal(signum)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # Ctrl-C again: stop waiting gently
            proc.terminate()
    proc.kill()
    proc.wait()


def _show_failure(log: Path) -> None:
    """After a failed Snakemake run: the error lines of its output and where the logs are."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    job_logs = [m.group(1) for ln in lines if (m := re.search(r"log: (.+?) \(check log file", ln))]
    errors = [ln.strip() for ln in lines if re.match(r"\s*(\w+Error|Error in rule|fastdiff:|\S+: error: )", ln)]
    for line in errors[-6:]:
        print(line, file=sys.stderr)
    for path in dict.fromkeys(job_logs):
        tail = [ln for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()][-1:]
        print(f"fastdiff: job log {path}: {tail[0] if tail else '(empty)'}", file=sys.stderr)
    print(f"fastdiff: Snakemake's output is in {log}", file=sys.stderr)


def _clear_stale_lock(workdir: Path) -> None:
    """Remove Snakemake's lock left by a killed run (we hold our own lock, so no other run is active)."""
    locks = workdir / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()):
        print("fastdiff: removing the lock of an interrupted earlier run", file=sys.stderr)
        cmd = [*_snakemake_command("snakemake", workdir), "--unlock", "--quiet", "all"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def _snakemake_command(module: str, workdir: Path) -> list[str]:
    """`python -P -m MODULE` on this package's workflow, run in workdir with the config the runner wrote there.

    -P: the current folder does not come first on sys.path, so a folder named fastdiff there cannot shadow the
    package.
    """
    snakefile, config = str(SNAKEFILE), str(workdir / "config.yaml")
    return [
        sys.executable,
        "-P",
        "-m",
        module,
        "--snakefile",
        snakefile,
        "--directory",
        str(workdir),
        "--configfile",
        config,
    ]


MAX_REBUILD_RUNS = 3
CORRUPT_BATCH = "corrupt thumbnail batch"  # the log line of a job that removed a corrupt input (STALE: a stale one)
# errors of the output folder that a user can fix, as a failed job's traceback shows them
DISK_FULL = ("[Errno 28] No space left on device", "[Errno 122] Disk quota exceeded", "database or disk is full")
NOT_WRITABLE = ("[Errno 30] Read-only file system", "[Errno 13] Permission denied")


def _job_logs_with(workdir: Path, since: float, text: str) -> list[tuple[Path, str]]:
    """(log, line) for the job logs written since `since` whose last 64 kB contain `text`."""
    found = []
    for path in sorted((workdir / "logs").rglob("*.log")):
        try:
            if path.stat().st_mtime < since - 1:
                continue
            with open(path, "rb") as fh:
                fh.seek(max(0, path.stat().st_size - 65536))
                tail = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        line = next((ln for ln in tail.splitlines() if text in ln), None)
        if line is not None:
            found.append((path, line.strip()))
    return found


def _explain_failure(out: Path, workdir: Path, since: float) -> None:
    """After a failed run: say plainly when the output folder is full, read-only or not permitted."""
    try:
        free = shutil.disk_usage(out).free
    except OSError:
        free = None
    full = [hit for text in DISK_FULL for hit in _job_logs_with(workdir, since, text)]
    denied = [hit for text in NOT_WRITABLE for hit in _job_logs_with(workdir, since, text)]
    if full or (free is not None and free < 1 << 20):
        where = f" (see {full[0][0]})" if full else ""
        print(
            f"fastdiff: the run failed because the disk of {out} is full{where}; {(free or 0) / 2**20:.1f} MiB free.",
            file=sys.stderr,
        )
    elif denied:
        print(
            f"fastdiff: the run failed because {out} cannot be written: {denied[0][1]} (see {denied[0][0]}).",
            file=sys.stderr,
        )
    else:
        return
    print(
        "fastdiff: fix that and run the same command again; finished jobs are kept. Results files are only ever "
        "written whole, never in part.",
        file=sys.stderr,
    )
