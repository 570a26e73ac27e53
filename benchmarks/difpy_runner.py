#!/usr/bin/env python
"""Run difPy 4.2.1 (build + search, or build only) on one folder and dump its results, stats and RAW matching pairs
as JSON.

Runs inside the difPy venv (not fastdiff's): benchmarks/benchmark.py starts it as a subprocess, e.g.
    /tmp/difpy-venv/bin/python benchmarks/difpy_runner.py OUT.json DIR --similarity similar --rotate 1 --same-dim 0

Unlike a plain run of difPy it also records every pair that passed difPy's per-pair test, before
difPy's grouping (`search._group_result_union`) drops pairs whose second image was already grouped; the
benchmark compares those raw pairs with fastdiff's. The wrapper only copies the list it is given, so it does not
change difPy's timing or results.
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def _plain(o: object) -> object:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("dir")
    ap.add_argument("--similarity", default="duplicates")
    ap.add_argument("--rotate", type=int, default=1)
    ap.add_argument("--same-dim", type=int, default=1)
    ap.add_argument("--px-size", type=int, default=50)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument(
        "--build-only",
        action="store_true",
        help="only difPy.build: its wall and CPU seconds (this process and its pool) as JSON",
    )
    a = ap.parse_args()
    sim: str | float = a.similarity if a.similarity in ("duplicates", "similar") else float(a.similarity)

    t_import = time.time()
    import difPy
    import difPy.dif as dif_module

    raw: list[tuple] = []
    original = dif_module.search._group_result_union

    def capturing(self, tuple_list):  # runs in the parent after pool.map; workers never call it
        raw.extend(tuple_list)
        return original(self, tuple_list)

    dif_module.search._group_result_union = capturing

    t0 = time.time()
    ru0 = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    dif = difPy.build(a.dir, show_progress=False, processes=a.processes, px_size=a.px_size)
    t1 = time.time()
    if a.build_only:  # the pool's workers have been reaped, so RUSAGE_CHILDREN holds them
        ru1 = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu = sum(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime for r0, r1 in zip(ru0, ru1))
        with open(a.out, "w") as fh:
            json.dump({"n_images": len(dif._tensor_dictionary), "build": t1 - t0, "cpu": cpu}, fh)
        return
    se = difPy.search(
        dif,
        similarity=sim,
        rotate=bool(a.rotate),
        same_dim=bool(a.same_dim),
        show_progress=False,
        processes=a.processes,
    )
    t2 = time.time()
    names = {int(k): str(v) for k, v in dif._filename_dictionary.items()}
    out = {
        "difpy_version": difPy.__version__,
        "n_images": len(dif._tensor_dictionary),
        "invalid": len(dif._invalid_files),
        "timing": {"import": t0 - t_import, "build": t1 - t0, "search": t2 - t1},
        "stats": se.stats,
        "result": se.result,
        "raw_pairs": [[names[int(i)], names[int(j)], float(m)] for i, j, m in raw],
    }
    with open(a.out, "w") as fh:
        json.dump(out, fh, default=_plain)


if __name__ == "__main__":  # required: difPy uses multiprocessing
    main()
