"""Queries over a finished run's database (OUT/fastdiff.sqlite), streamed from SQLite.

    from fastdiff.db import ResultDB

    with ResultDB("results") as db:                  # OUT or the .sqlite file; opened read-only
        print(db.pair_count(), db.cluster_count(), db.hash_cluster_count())
        pairs = db.pairs_frame()                     # pandas: pairs_frame, files_frame, groups_frame
        for cluster in db.clusters():                # connected components of the pair graph
            print(cluster.head.path, [(m.image.path, m.dif) for m in cluster.members])
        group = db.cluster(0, kind="star")           # the i-th best-copy group (results.json's groups)
        for pair in db.pairs(max_dif=1.0):
            print(pair.path_a, pair.path_b, pair.dif)

Memory is O(images) at most (the union-find of the connected components); pairs are never loaded into lists.
"""

from __future__ import annotations

import json
import os
import sqlite3
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..grouping import store_best_copy_groups
from ..paths import from_bytes
from .schema import HASH_CLUSTER_ID

if TYPE_CHECKING:
    import pandas as pd

ClusterKind = Literal["components", "star"]
HASH_MATCH = 2  # dif_table.success of a pair found by equal hashes

_IMAGE = "d.key, d.path_bytes, d.py, d.px, d.file_size"  # width = py, height = px (Fast-Diff-Py's columns)


@dataclass(frozen=True)
class Image:
    key: int
    path: str  # the file's path: os.fsencode(path) is its exact bytes (fastdiff.paths)
    width: int
    height: int
    file_size: int


@dataclass(frozen=True)
class Member:
    image: Image
    dif: float | None  # MSE to the cluster's head; None if the two did not match directly (components only)


@dataclass(frozen=True)
class Cluster:
    """A group of matching images, each image in at most one cluster of a kind."""

    head: Image  # the best copy: the first in the keeper order (fastdiff.keeper); with part_b, a B image
    members: list[Member]  # the other images, in key order

    @property
    def size(self) -> int:
        return 1 + len(self.members)


@dataclass(frozen=True)
class HashCluster:
    """Images whose thumbnails are identical up to a rotation (after shift_amount)."""

    hash: str  # the smallest hash_table key's hash among the rotations
    images: list[Image]  # in key order


@dataclass(frozen=True)
class Pair:
    key_a: int
    path_a: str
    key_b: int
    path_b: str
    dif: float  # MSE over px*px*3 values on the 0..255 scale
    hash_match: bool  # found by equal thumbnail hashes, not computed


@dataclass(frozen=True)
class Problem:
    """A directory entry that was never compared."""

    key: int
    path: str
    stage: Literal["index", "decode"]  # where it was dropped
    reason: str


def database_path(path: str | os.PathLike[str]) -> Path:
    """The database file: `path` itself, or OUT/fastdiff.sqlite when `path` is a directory."""
    path = Path(path)
    db = path / "fastdiff.sqlite" if path.is_dir() else path
    if not db.is_file():
        raise FileNotFoundError(f"no fastdiff database at {db}")
    return db


def _image(row: tuple) -> Image:
    key, raw, *rest = row
    return Image(key, from_bytes(raw), *rest)


class ResultDB:
    """Read-only access to a fastdiff database; `drop_diff` is the one method that writes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = database_path(path)
        self._con = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)
        self._con.execute(
            "CREATE TEMP TABLE component (level INTEGER, key INTEGER, comp INTEGER NOT NULL, PRIMARY KEY (level, key))"
        )
        self._con.execute("CREATE INDEX temp.component_comp ON component (level, comp, key)")
        self._levels: dict[float | None, int] = {}  # max_dif -> level of the components built for it

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ResultDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- files
    def config(self) -> dict[str, object]:
        """The configuration of the run that wrote the database."""
        return {k: json.loads(v) for k, v in self._con.execute("SELECT name, value FROM run_config ORDER BY name")}

    def image(self, key: int) -> Image:
        """One directory entry; KeyError if there is none with that key."""
        row = self._con.execute(f"SELECT {_IMAGE} FROM directory d WHERE d.key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return _image(row)

    def errors(self) -> Iterator[Problem]:
        """Entries that failed: unreadable at indexing (stage 'index') or not decodable (stage 'decode')."""
        for key, raw, allowed, error in self._con.execute(
            "SELECT key, path_bytes, allowed, error FROM directory WHERE success = 0 ORDER BY key"
        ):
            yield Problem(key, from_bytes(raw), "decode" if allowed else "index", error)

    def disallowed(self) -> Iterator[Problem]:
        """Entries skipped at indexing without an error: unsupported file types and second paths of one file."""
        for key, raw, error in self._con.execute(
            "SELECT key, path_bytes, error FROM directory WHERE allowed = 0 AND success = -1 ORDER BY key"
        ):
            yield Problem(key, from_bytes(raw), "index", error)

    # --- pairs
    def pair_count(self, max_dif: float | None = None) -> int:
        """Matching pairs, optionally only those with dif <= max_dif."""
        return self._con.execute(
            "SELECT COUNT(*) FROM dif_table WHERE success IN (1, 2) AND (?1 IS NULL OR dif <= ?1)", (max_dif,)
        ).fetchone()[0]

    def pairs(self, max_dif: float | None = None, hash_matches: bool = True) -> Iterator[Pair]:
        """Matching pairs in key order with their MSE (dif <= max_dif if given); hash_matches=False leaves out pairs
        found by equal hashes."""
        rows = self._con.execute(
            """
            SELECT t.key_a, a.path_bytes, t.key_b, b.path_bytes, t.dif, t.success FROM dif_table t
            JOIN directory a ON a.key = t.key_a JOIN directory b ON b.key = t.key_b
            WHERE t.success IN (1, ?2) AND (?1 IS NULL OR t.dif <= ?1) ORDER BY t.key_a, t.key_b""",
            (max_dif, HASH_MATCH if hash_matches else 1),
        )
        for key_a, path_a, key_b, path_b, dif, success in rows:
            yield Pair(key_a, from_bytes(path_a), key_b, from_bytes(path_b), dif, success == HASH_MATCH)

    def _dif(self, a: int, b: int) -> float | None:
        row = self._con.execute(
            "SELECT dif FROM dif_table WHERE key_a = ? AND key_b = ? AND success IN (1, 2)", (min(a, b), max(a, b))
        ).fetchone()
        return None if row is None else row[0]

    # --- clusters
    def _level(self, max_dif: float | None) -> int:
        """Build (once per max_dif) the connected components of the pair graph into temp.component.

        Union-find over the streamed pairs, in an array of one int64 per key; a component's id is its smallest key.
        """
        if max_dif in self._levels:
            return self._levels[max_dif]
        level = len(self._levels)
        n = self._con.execute("SELECT COALESCE(MAX(key), -1) + 1 FROM directory").fetchone()[0]
        parent = array("q", range(n))
        linked = bytearray(n)

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in self._con.execute(
            "SELECT key_a, key_b FROM dif_table WHERE success IN (1, 2) AND (?1 IS NULL OR dif <= ?1)", (max_dif,)
        ):
            linked[a] = linked[b] = 1
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        self._con.executemany(
            "INSERT INTO temp.component VALUES (?, ?, ?)", ((level, k, find(k)) for k in range(n) if linked[k])
        )
        self._levels[max_dif] = level
        return level

    def _component(self, level: int, comp: int) -> Cluster:
        images = [
            _image(r)
            for r in self._con.execute(
                f"SELECT {_IMAGE} FROM temp.component c JOIN directory d ON d.key = c.key "
                "WHERE c.level = ? AND c.comp = ? ORDER BY d.keeper_rank",
                (level, comp),
            )
        ]
        head, rest = images[0], sorted(images[1:], key=lambda i: i.key)
        return Cluster(head, [Member(i, self._dif(head.key, i.key)) for i in rest])

    def _star(self, head: int) -> Cluster:
        rows = self._con.execute(
            f"SELECT {_IMAGE}, g.dif FROM best_copy_group g JOIN directory d ON d.key = g.member "
            "WHERE g.head = ? ORDER BY g.member",
            (head,),
        )
        return Cluster(self.image(head), [Member(_image(r[:5]), r[5]) for r in rows])

    @staticmethod
    def _check(kind: ClusterKind, max_dif: float | None) -> None:
        if kind not in ("components", "star"):
            raise ValueError(f"kind must be 'components' or 'star', not {kind!r}")
        if kind == "star" and max_dif is not None:
            raise ValueError("star groups are the stored best-copy groups; max_dif applies to components only")

    def cluster_count(self, kind: ClusterKind = "components", max_dif: float | None = None) -> int:
        """Number of clusters: connected components of the pairs with dif <= max_dif, or best-copy (star) groups."""
        self._check(kind, max_dif)
        if kind == "star":
            return self._con.execute("SELECT COUNT(DISTINCT head) FROM best_copy_group").fetchone()[0]
        return self._con.execute(
            "SELECT COUNT(DISTINCT comp) FROM temp.component WHERE level = ?", (self._level(max_dif),)
        ).fetchone()[0]

    def clusters(self, kind: ClusterKind = "components", max_dif: float | None = None) -> Iterator[Cluster]:
        """Every cluster, each image once.

        components: connected components of the pairs with dif <= max_dif, ordered by their smallest key; the head
        is the component's best copy and a member's dif is its MSE to the head if they matched directly.
        star: the best-copy groups of results.json (every member matched its head), ordered by head key.
        """
        self._check(kind, max_dif)
        if kind == "star":
            heads = self._con.execute("SELECT DISTINCT head FROM best_copy_group ORDER BY head")
            yield from (self._star(h) for (h,) in heads)
            return
        level = self._level(max_dif)
        comps = self._con.execute("SELECT DISTINCT comp FROM temp.component WHERE level = ? ORDER BY comp", (level,))
        yield from (self._component(level, comp) for (comp,) in comps)

    def cluster(self, i: int, kind: ClusterKind = "components", max_dif: float | None = None) -> Cluster:
        """The i-th cluster of `clusters(kind, max_dif)` (0-based); IndexError if there are not that many."""
        self._check(kind, max_dif)
        if i < 0:
            raise IndexError(i)
        if kind == "star":
            row = self._con.execute(
                "SELECT DISTINCT head FROM best_copy_group ORDER BY head LIMIT 1 OFFSET ?", (i,)
            ).fetchone()
            if row is None:
                raise IndexError(i)
            return self._star(row[0])
        level = self._level(max_dif)
        row = self._con.execute(
            "SELECT DISTINCT comp FROM temp.component WHERE level = ? ORDER BY comp LIMIT 1 OFFSET ?", (level, i)
        ).fetchone()
        if row is None:
            raise IndexError(i)
        return self._component(level, row[0])

    # --- hash clusters
    _HASH_IDS = f"""SELECT {HASH_CLUSTER_ID} AS hid FROM directory WHERE {HASH_CLUSTER_ID} IS NOT NULL
                    GROUP BY hid HAVING COUNT(*) > 1"""

    def _hash_cluster(self, hid: int) -> HashCluster:
        (digest,) = self._con.execute("SELECT hash FROM hash_table WHERE key = ?", (hid,)).fetchone()
        rows = self._con.execute(f"SELECT {_IMAGE} FROM directory d WHERE {HASH_CLUSTER_ID} = ? ORDER BY d.key", (hid,))
        return HashCluster(digest, [_image(r) for r in rows])

    def hash_cluster_count(self) -> int:
        """Number of sets of two or more images with identical thumbnails up to a rotation (any partition)."""
        return self._con.execute(f"SELECT COUNT(*) FROM ({self._HASH_IDS})").fetchone()[0]

    def hash_clusters(self) -> Iterator[HashCluster]:
        """Every hash cluster (each image once), in the order of their hashes' first occurrence."""
        ids = self._con.execute(f"{self._HASH_IDS} ORDER BY hid")
        yield from (self._hash_cluster(hid) for (hid,) in ids)

    def hash_cluster(self, i: int) -> HashCluster:
        """The i-th hash cluster (0-based); IndexError if there are not that many."""
        row = self._con.execute(f"{self._HASH_IDS} ORDER BY hid LIMIT 1 OFFSET ?", (i,)).fetchone() if i >= 0 else None
        if row is None:
            raise IndexError(i)
        return self._hash_cluster(row[0])

    # --- pandas (imported here: the workflow's jobs read the database without it)
    def pairs_frame(self, max_dif: float | None = None) -> pd.DataFrame:
        """The matching pairs as a DataFrame: key_a, path_a, key_b, path_b, dif, hash_match (dif <= max_dif if
        given), in key order."""
        import pandas as pd

        frame = pd.read_sql_query(
            "SELECT t.key_a, a.path AS path_a, t.key_b, b.path AS path_b, t.dif, t.success = 2 AS hash_match "
            "FROM dif_table t JOIN directory a ON a.key = t.key_a JOIN directory b ON b.key = t.key_b "
            "WHERE t.success IN (1, 2) AND (?1 IS NULL OR t.dif <= ?1) ORDER BY t.key_a, t.key_b",
            self._con,
            params=(max_dif,),
        )
        return frame.astype({"hash_match": bool})

    def files_frame(self) -> pd.DataFrame:
        """Every directory entry as a DataFrame: key, path, filename, width, height (EXIF-oriented, -1 if never
        decoded), file_size, created, part_b, compared (decoded and compared), error."""
        import pandas as pd

        frame = pd.read_sql_query(
            "SELECT key, path, filename, py AS width, px AS height, file_size, created, part_b, "
            "success = 1 AS compared, error FROM directory ORDER BY key",
            self._con,
        )
        return frame.astype({"part_b": bool, "compared": bool})

    def groups_frame(self) -> pd.DataFrame:
        """The best-copy groups (results.json's) as a DataFrame, one row per image: group (0-based, by the kept
        copy's key), key, path, kept (the best copy), dif (MSE to the kept copy; 0 for it)."""
        import pandas as pd

        frame = pd.read_sql_query(
            'SELECT DENSE_RANK() OVER (ORDER BY g.head) - 1 AS "group", d.key, d.path, g.kept, g.dif FROM ('
            "SELECT head, head AS key, 1 AS kept, 0.0 AS dif FROM best_copy_group GROUP BY head UNION ALL "
            "SELECT head, member, 0, dif FROM best_copy_group) g JOIN directory d ON d.key = g.key "
            "ORDER BY g.head, g.kept DESC, d.key",
            self._con,
        )
        return frame.astype({"kept": bool})

    # --- summary and the one write
    def summary(self) -> dict[str, int]:
        """Counts of files, pairs and clusters."""
        files, compared, errors, disallowed = self._con.execute(
            "SELECT COUNT(*), COALESCE(SUM(success = 1), 0), COALESCE(SUM(success = 0), 0), "
            "COALESCE(SUM(allowed = 0 AND success = -1), 0) FROM directory"
        ).fetchone()
        return {
            "files": files,
            "compared": compared,
            "errors": errors,
            "disallowed": disallowed,
            "pairs": self.pair_count(),
            "clusters": self.cluster_count(),
            "star_groups": self.cluster_count("star"),
            "hash_clusters": self.hash_cluster_count(),
            "lower_quality": self._con.execute("SELECT COUNT(*) FROM best_copy_group").fetchone()[0],
        }

    def drop_diff(self, threshold: float) -> int:
        """Delete the pairs with dif > threshold and rebuild the best-copy groups; return how many were deleted.

        Opens its own read-write connection. Only the database changes: results.json and the other files of the
        run are not rewritten.
        """
        if not threshold >= 0:
            raise ValueError("threshold must be a number >= 0")
        rw = sqlite3.connect(self.path)
        try:
            deleted = rw.execute("DELETE FROM dif_table WHERE success IN (1, 2) AND dif > ?", (threshold,)).rowcount
            rw.execute("DELETE FROM best_copy_group")
            store_best_copy_groups(rw)  # commits
        finally:
            rw.close()
        self._con.execute("DELETE FROM temp.component")
        self._levels.clear()
        return deleted
