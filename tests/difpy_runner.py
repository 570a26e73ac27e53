"""Run difPy 4.2.1 itself, the oracle of the exact mode: one build, then several searches.

    python difpy_runner.py SPEC.json OUT.json      (run from the directory the paths in SPEC are relative to)

SPEC: {"dirs": [...], "build": {build keywords}, "searches": [{search keywords}, ...]}. OUT: one
{"result", "lower_quality" (sorted: difPy's order is a set's), "stats"} per search. A script, not a test module:
difPy uses multiprocessing, which needs the main-module guard.
"""

import json
import sys

import numpy as np


def _plain(obj):
    return obj.item() if isinstance(obj, np.generic) else str(obj)


if __name__ == "__main__":
    import difPy

    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    dif = difPy.build(*spec["dirs"], show_progress=False, processes=2, **spec["build"])
    out = []
    for options in spec["searches"]:
        se = difPy.search(dif, show_progress=False, processes=2, **options)
        # serialised at once: difPy's search stats are the build's stats dict, updated by the next search
        out.append(
            json.loads(
                json.dumps(
                    {"result": se.result, "lower_quality": sorted(map(str, se.lower_quality)), "stats": se.stats},
                    default=_plain,
                )
            )
        )
    with open(sys.argv[2], "w") as fh:
        json.dump(out, fh)
