"""Queries over a finished run's database (OUT/fastdiff.sqlite), streamed from SQLite.

    from fastdiff.merge.db import ResultDB

    with ResultDB("results") as db:                  # OUT or the .sqlite file; opened read-only
        print(db.pair_count(), db.cluster_count(), db.hash_cluster_count())
        pairs = db.pairs_frame()                     # pandas: pairs_, files_, groups_, neighbors_frame
        for cluster in db.clusters():                # connected components of the pair graph
            print(cluster.best_copy.path, [(c.image.path, c.mse) for c in cluster.copies])
        group = db.cluster(0, kind="best_copy")      # the i-th best-copy group (results.json's groups)
        for pair in db.pairs(max_mse=1.0):
            print(pair.path_a, pair.path_b, pair.mse)
        db.groups(page=2)                            # in Jupyter: a gallery page of groups (fastdiff.merge.db.gallery)

Names: a *cluster* is a connected component of the pair graph (kind "components") and a *best-copy group* one of
results.json's groups (kind "best_copy"); both are returned as a `Cluster` (its `best_copy` and its `copies`). `mse`
is the MSE over px*px*3 values on the 0-255 scale (the database's `dif` column, Fast-Diff-Py's name). A `key` here
is the database's `directory.key`, an *index key*: the file's position in this run's index order (the rejected
entries follow the indexed files), not the layout key that stays with a file across runs (`fastdiff.core.records`).

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

from fastdiff._shared.paths import from_bytes
from fastdiff.core.file_counts import FileCounts, count_files
from fastdiff.merge.db.exact import count_pairs
from fastdiff.merge.db.schema import HASH_CLUSTER_ID
from fastdiff.merge.grouping import store_best_copy_groups
from fastdiff.merge.keeper import kept_because
from fastdiff.thumbnails.frames import RELATED

if TYPE_CHECKING:
    import pandas as pd

    from fastdiff.merge.db.gallery import GroupsView, PairsView

ClusterKind = Literal["components", "best_copy"]
"""What `ResultDB.clusters` returns: connected components of the pair graph, or the best-copy groups."""
HASH_MATCH = 2  # dif_table.success of a pair found by equal hashes

_IMAGE = "d.key, d.path_bytes, d.py, d.px, d.file_size"  # width = py, height = px (Fast-Diff-Py's columns)


@dataclass(frozen=True)
class Image:
    """One directory entry of the database.

    Attributes
    ----------
    key : int
        Index key (`directory.key`): the position in this run's index order.
    path : str
        The file's path: `os.fsencode(path)` is its exact bytes (`fastdiff._shared.paths`).
    width, height : int
        Size of the original in pixels, EXIF-oriented (`directory.py`, `directory.px`); -1 if never decoded.
    file_size : int
        Bytes at indexing; -1 if unknown.
    """

    key: int
    path: str
    width: int
    height: int
    file_size: int


@dataclass(frozen=True)
class Copy:
    """An image of a cluster other than its best copy.

    Attributes
    ----------
    image : Image
    mse : float or None
        MSE to the cluster's best copy (0-255 scale, px*px*3 values, minimum over the rotations); None if the two
        did not match directly (only in connected components: a chain a-b-c).
    """

    image: Image
    mse: float | None


@dataclass(frozen=True)
class Cluster:
    """A set of matching images around its best copy, each image in at most one cluster of a kind: a connected
    component of the pair graph (kind "components") or a best-copy group of results.json (kind "best_copy").

    Attributes
    ----------
    best_copy : Image
        The image kept: the first of the cluster in the keeper order (`fastdiff.merge.keeper`); in a best-copy group
        with part_b, a B image.
    copies : list of Copy
        The other images, in index key order.
    kept_because : str
        Why the best copy is kept rather than the runner-up (the next image of the cluster in the keeper order):
        the first keeper criterion on which they differ, e.g. "more pixels", "older", "byte order"
        (`fastdiff.merge.keeper.KEEP_REASONS`); with part_b "in part_b (the reference)".
    """

    best_copy: Image
    copies: list[Copy]
    kept_because: str

    @property
    def size(self) -> int:
        """Number of images, the best copy included."""
        return 1 + len(self.copies)


@dataclass(frozen=True)
class HashCluster:
    """Images whose thumbnails are identical up to a rotation (after shift_amount).

    Attributes
    ----------
    hash : str
        sha-256 (hex) of the rotation with the smallest `hash_table.key` among the images' rotation hashes.
    images : list of Image
        Two or more, in index key order.
    """

    hash: str
    images: list[Image]


@dataclass(frozen=True)
class Pair:
    """A matching pair (a row of `dif_table` with success 1 or 2).

    Attributes
    ----------
    key_a, key_b : int
        Index keys, key_a < key_b.
    path_a, path_b : str
        Their paths (`os.fsencode` gives the exact bytes).
    mse : float
        MSE over px*px*3 values on the 0-255 scale, minimum over the rotations (`dif_table.dif`); 0 for a hash match.
    hash_match : bool
        Found by equal thumbnail hashes (hash-only mode, hash join), not computed.
    """

    key_a: int
    path_a: str
    key_b: int
    path_b: str
    mse: float
    hash_match: bool


@dataclass(frozen=True)
class Problem:
    """A directory entry that was never compared.

    Attributes
    ----------
    key : int
        Index key (rejected entries follow the indexed files).
    path : str
    stage : {"index", "decode"}
        Where it was dropped: at indexing (unreadable, unsupported type, second path of a file) or at decoding.
    reason : str
        `directory.error`, e.g. "truncated image data".
    """

    key: int
    path: str
    stage: Literal["index", "decode"]
    reason: str


def pair_table_of(con: sqlite3.Connection) -> str:
    """The table of a database's stored pairs: computed_pair; or, in a database written before exact groups
    existed, dif_table, with temporary views (computed_pair, dif_pair) and an empty exact_group put in front of it on
    this connection, so that the same queries read both."""
    if con.execute("SELECT 1 FROM main.sqlite_master WHERE name = 'computed_pair'").fetchone():
        return "computed_pair"
    con.executescript("""
        CREATE TEMP VIEW computed_pair AS SELECT * FROM main.dif_table;
        CREATE TEMP VIEW dif_pair AS SELECT key_a, key_b, dif, success, error, rotation FROM main.dif_table;
        CREATE TEMP TABLE exact_group (member INTEGER PRIMARY KEY, grp, symmetry, stabiliser, part_b);""")
    return "dif_table"


def database_path(path: str | os.PathLike[str]) -> Path:
    """The database file: `path` itself, or OUT/fastdiff.sqlite when `path` is a directory.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    """
    path = Path(path)
    db = path / "fastdiff.sqlite" if path.is_dir() else path
    if not db.is_file():
        raise FileNotFoundError(f"no fastdiff database at {db}")
    return db


def _image(row: tuple) -> Image:
    key, raw, *rest = row
    return Image(key, from_bytes(raw), *rest)


class ResultDB:
    """Read-only access to a fastdiff database; `drop_diff` is the one method that writes.

    Also a context manager (closes on exit). Every query streams from SQLite; only the connected components are
    materialised, once per `max_mse`, into a temporary table of this connection.

    Parameters
    ----------
    path : str or os.PathLike
        The run's output folder OUT or its `fastdiff.sqlite`.

    Attributes
    ----------
    path : Path
        The database file.

    Raises
    ------
    FileNotFoundError
        If there is no database at `path`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = database_path(path)
        self._con = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)
        self._con.execute(
            "CREATE TEMP TABLE component (level INTEGER, key INTEGER, comp INTEGER NOT NULL, PRIMARY KEY (level, key))"
        )
        self._con.execute("CREATE INDEX temp.component_comp ON component (level, comp, key)")
        pair_table_of(self._con)
        self._levels: dict[float | None, int] = {}  # max_mse -> level of the components built for it

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> ResultDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- files
    def config(self) -> dict[str, object]:
        """The configuration of the run that wrote the database."""
        return {k: json.loads(v) for k, v in self._con.execute("SELECT name, value FROM run_config ORDER BY name")}

    def file_states(self) -> Iterator[tuple[str, int, int, int, int]]:
        """What the index recorded of each decoded file, for the checks before acting (`fastdiff.actions.file_checks`).

        Yields
        ------
        (path, size, mtime_ns, inode, device)
            -1 for what is unknown (inode and device are unknown in databases written before they were recorded).
        """
        columns = {row[1] for row in self._con.execute("PRAGMA table_info(directory)")}
        identity = "inode, device" if "inode" in columns else "-1, -1"
        for raw, *rest in self._con.execute(
            f"SELECT path_bytes, file_size, mtime_ns, {identity} FROM directory WHERE success = 1 ORDER BY key"
        ):
            yield (from_bytes(raw), *rest)

    def copies(self) -> Iterator[tuple[str, str]]:
        """The lower-quality copies (lower_quality.json's list) with the best copy each duplicates.

        Yields
        ------
        (copy, kept)
            Paths, in lower_quality.json's order.
        """
        for copy, kept in self._con.execute(
            "SELECT m.path_bytes, h.path_bytes FROM best_copy_group g JOIN directory m ON m.key = g.member "
            "JOIN directory h ON h.key = g.head ORDER BY g.head, g.member"
        ):
            yield from_bytes(copy), from_bytes(kept)

    def image(self, key: int) -> Image:
        """The directory entry with index key `key`.

        Raises
        ------
        KeyError
            If there is none with that key.
        """
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
    def pair_count(self, max_mse: float | None = None) -> int:
        """Number of matching pairs, optionally only those with an MSE <= max_mse."""
        return count_pairs(self._con, max_mse)

    def pairs(self, max_mse: float | None = None, hash_matches: bool = True) -> Iterator[Pair]:
        """The matching pairs in index key order (key_a, then key_b).

        Parameters
        ----------
        max_mse : float, optional
            Only pairs with an MSE at or below this (0-255 scale); all pairs by default.
        hash_matches : bool
            False leaves out the pairs found by equal hashes.

        Yields
        ------
        Pair
        """
        rows = self._con.execute(
            """
            SELECT t.key_a, a.path_bytes, t.key_b, b.path_bytes, t.dif, t.success FROM dif_pair t
            JOIN directory a ON a.key = t.key_a JOIN directory b ON b.key = t.key_b
            WHERE t.success IN (1, ?2) AND (?1 IS NULL OR t.dif <= ?1) ORDER BY t.key_a, t.key_b""",
            (max_mse, HASH_MATCH if hash_matches else 1),
        )
        for key_a, path_a, key_b, path_b, mse, success in rows:
            yield Pair(key_a, from_bytes(path_a), key_b, from_bytes(path_b), mse, success == HASH_MATCH)

    def _mse(self, a: int, b: int) -> float | None:
        row = self._con.execute(
            "SELECT dif FROM dif_pair WHERE key_a = ? AND key_b = ? AND success IN (1, 2)", (min(a, b), max(a, b))
        ).fetchone()
        return None if row is None else row[0]

    # --- clusters
    def _level(self, max_mse: float | None) -> int:
        """Build (once per max_mse) the connected components of the pair graph into temp.component.

        Union-find over the streamed pairs, in an array of one int64 per key; a component's id is its smallest key.
        """
        if max_mse in self._levels:
            return self._levels[max_mse]
        level = len(self._levels)
        n = self._con.execute("SELECT COALESCE(MAX(key), -1) + 1 FROM directory").fetchone()[0]
        parent = array("q", range(n))
        linked = bytearray(n)

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        # an exact group (MSE 0) is connected: its members are linked to its first, not pair by pair
        for a, b in self._con.execute(
            "SELECT key_a, key_b FROM computed_pair WHERE success IN (1, 2) AND (?1 IS NULL OR dif <= ?1) "
            "UNION ALL SELECT grp, member FROM exact_group WHERE member != grp AND (?1 IS NULL OR ?1 >= 0)",
            (max_mse,),
        ):
            linked[a] = linked[b] = 1
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        self._con.executemany(
            "INSERT INTO temp.component VALUES (?, ?, ?)", ((level, k, find(k)) for k in range(n) if linked[k])
        )
        self._levels[max_mse] = level
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
        best, rest = images[0], sorted(images[1:], key=lambda i: i.key)
        reason = kept_because(self._con, best.key, images[1].key)
        return Cluster(best, [Copy(i, self._mse(best.key, i.key)) for i in rest], reason)

    def _best_copy_group(self, best_copy: int) -> Cluster:
        rows = self._con.execute(
            f"SELECT {_IMAGE}, g.dif FROM best_copy_group g JOIN directory d ON d.key = g.member "
            "WHERE g.head = ? ORDER BY g.member",
            (best_copy,),
        )
        copies = [Copy(_image(r[:5]), r[5]) for r in rows]
        (reason,) = self._con.execute(
            "SELECT g.kept_because FROM best_copy_group g JOIN directory d ON d.key = g.member "
            "WHERE g.head = ? ORDER BY d.keeper_rank LIMIT 1",
            (best_copy,),
        ).fetchone()
        return Cluster(self.image(best_copy), copies, reason)

    @staticmethod
    def _check(kind: ClusterKind, max_mse: float | None) -> None:
        if kind not in ("components", "best_copy"):
            raise ValueError(f"kind must be 'components' or 'best_copy', not {kind!r}")
        if kind == "best_copy" and max_mse is not None:
            raise ValueError("best-copy groups are stored as the run made them; max_mse applies to components only")

    def cluster_count(self, kind: ClusterKind = "components", max_mse: float | None = None) -> int:
        """Number of clusters of `clusters(kind, max_mse)`."""
        self._check(kind, max_mse)
        if kind == "best_copy":
            return self._con.execute("SELECT COUNT(DISTINCT head) FROM best_copy_group").fetchone()[0]
        return self._con.execute(
            "SELECT COUNT(DISTINCT comp) FROM temp.component WHERE level = ?", (self._level(max_mse),)
        ).fetchone()[0]

    def clusters(self, kind: ClusterKind = "components", max_mse: float | None = None) -> Iterator[Cluster]:
        """Every cluster of a kind, each image in at most one.

        Parameters
        ----------
        kind : {"components", "best_copy"}
            "components": the connected components of the pairs with an MSE <= max_mse, ordered by their smallest
            index key, built by a union-find over the streamed pairs; a copy's `mse` is its MSE to the best copy
            if the two matched directly, else None. "best_copy": the stored best-copy groups, i.e. results.json's
            groups (`fastdiff.merge.grouping`), ordered by the best copy's index key; every copy matched its best copy.
        max_mse : float, optional
            Components only: the pairs that link images (all by default).

        Yields
        ------
        Cluster

        Raises
        ------
        ValueError
            For another kind, or max_mse with kind "best_copy".
        """
        self._check(kind, max_mse)
        if kind == "best_copy":
            best_copies = self._con.execute("SELECT DISTINCT head FROM best_copy_group ORDER BY head")
            yield from (self._best_copy_group(k) for (k,) in best_copies)
            return
        level = self._level(max_mse)
        comps = self._con.execute("SELECT DISTINCT comp FROM temp.component WHERE level = ? ORDER BY comp", (level,))
        yield from (self._component(level, comp) for (comp,) in comps)

    def cluster(self, i: int, kind: ClusterKind = "components", max_mse: float | None = None) -> Cluster:
        """The i-th cluster of `clusters(kind, max_mse)` (0-based).

        Raises
        ------
        IndexError
            If i < 0 or there are not that many.
        ValueError
            As `clusters`.
        """
        self._check(kind, max_mse)
        if i < 0:
            raise IndexError(i)
        if kind == "best_copy":
            row = self._con.execute(
                "SELECT DISTINCT head FROM best_copy_group ORDER BY head LIMIT 1 OFFSET ?", (i,)
            ).fetchone()
            if row is None:
                raise IndexError(i)
            return self._best_copy_group(row[0])
        level = self._level(max_mse)
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
        """The i-th hash cluster of `hash_clusters()` (0-based).

        Raises
        ------
        IndexError
            If i < 0 or there are not that many.
        """
        row = self._con.execute(f"{self._HASH_IDS} ORDER BY hid LIMIT 1 OFFSET ?", (i,)).fetchone() if i >= 0 else None
        if row is None:
            raise IndexError(i)
        return self._hash_cluster(row[0])

    # --- pandas (imported here: the workflow's jobs read the database without it)
    def pairs_frame(self, max_mse: float | None = None) -> pd.DataFrame:
        """The matching pairs (MSE <= max_mse if given) as a DataFrame, in index key order.

        Returns
        -------
        pandas.DataFrame
            Columns key_a, path_a, key_b, path_b, mse, hash_match (the fields of `Pair`); the paths are the
            database's readable text (`directory.path`), not always the exact path.
        """
        import pandas as pd

        frame = pd.read_sql_query(
            "SELECT t.key_a, a.path AS path_a, t.key_b, b.path AS path_b, t.dif AS mse, t.success = 2 AS hash_match "
            "FROM dif_pair t JOIN directory a ON a.key = t.key_a JOIN directory b ON b.key = t.key_b "
            "WHERE t.success IN (1, 2) AND (?1 IS NULL OR t.dif <= ?1) ORDER BY t.key_a, t.key_b",
            self._con,
            params=(max_mse,),
        )
        return frame.astype({"hash_match": bool})

    def files_frame(self) -> pd.DataFrame:
        """Every directory entry as a DataFrame, in index key order.

        Returns
        -------
        pandas.DataFrame
            Columns key, path (readable text), filename, width, height (pixels, EXIF-oriented, -1 if never
            decoded), file_size (bytes), created (`st_ctime`, seconds since the epoch), part_b (bool), compared
            (bool: decoded and compared), error (None when compared).
        """
        import pandas as pd

        frame = pd.read_sql_query(
            "SELECT key, path, filename, py AS width, px AS height, file_size, created, part_b, "
            "success = 1 AS compared, error FROM directory ORDER BY key",
            self._con,
        )
        return frame.astype({"part_b": bool, "compared": bool})

    def groups_frame(self) -> pd.DataFrame:
        """The best-copy groups (results.json's) as a DataFrame, one row per image, each group's best copy first.

        Returns
        -------
        pandas.DataFrame
            Columns group (0-based, in the order of the best copies' index keys), key, path (readable text),
            best_copy (bool), mse (MSE to the group's best copy; 0 for the best copy itself), kept_because (for a
            copy: why the best copy is kept rather than it, `Cluster.kept_because`; None for the best copy).
        """
        import pandas as pd

        frame = pd.read_sql_query(
            'SELECT DENSE_RANK() OVER (ORDER BY g.head) - 1 AS "group", d.key, d.path, g.best_copy, g.mse, '
            "g.kept_because FROM ("
            "SELECT head, head AS key, 1 AS best_copy, 0.0 AS mse, NULL AS kept_because FROM best_copy_group "
            "GROUP BY head UNION ALL "
            "SELECT head, member, 0, dif, kept_because FROM best_copy_group) g JOIN directory d ON d.key = g.key "
            "ORDER BY g.head, g.best_copy DESC, d.key",
            self._con,
        )
        return frame.astype({"best_copy": bool})

    def neighbors_frame(self) -> pd.DataFrame:
        """The k nearest neighbours of every image (config key `neighbors`) as a DataFrame, in index key order,
        closest first; empty when the run did not ask for them (or its database predates them).

        Returns
        -------
        pandas.DataFrame
            Columns key, path, rank (1: the closest; equal MSE: the smaller neighbour key first), neighbor_key,
            neighbor_path, mse (as `Pair.mse`); paths as in `pairs_frame`.
        """
        import pandas as pd

        if not self._has_table("neighbors"):
            return pd.DataFrame(columns=["key", "path", "rank", "neighbor_key", "neighbor_path", "mse"])
        return pd.read_sql_query(
            "SELECT n.key, a.path, n.rank, n.neighbor_key, b.path AS neighbor_path, n.mse FROM neighbors n "
            "JOIN directory a ON a.key = n.key JOIN directory b ON b.key = n.neighbor_key ORDER BY n.key, n.rank",
            self._con,
        )

    def outliers_frame(self) -> pd.DataFrame:
        """The outliers (config key `outlier_mse`): compared images whose nearest neighbour is farther than
        outlier_mse, or that have none, in index key order; empty without outlier_mse (or in a database that
        predates it).

        Returns
        -------
        pandas.DataFrame
            Columns key, path, nearest_mse (NaN: no image it may be compared with).
        """
        import pandas as pd

        if not self._has_table("outlier"):
            return pd.DataFrame(columns=["key", "path", "nearest_mse"])
        return pd.read_sql_query(
            "SELECT o.key, d.path, o.nearest_mse FROM outlier o JOIN directory d ON d.key = o.key ORDER BY o.key",
            self._con,
        )

    def _has_table(self, name: str) -> bool:
        """Whether the database has the table (those added by later versions are missing from older ones)."""
        found = self._con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return found.fetchone() is not None

    # --- summary and the one write
    def file_counts(self) -> FileCounts:
        """What became of every entry found: compared, not images, unreadable, skipped (`fastdiff.core.file_counts`),
        the same counts as stats.json's "files" and the run's closing summary."""
        return count_files(self._con)

    def summary(self) -> dict[str, int]:
        """Counts of files, pairs and clusters.

        Returns
        -------
        dict of str to int
            files (directory entries), compared, errors, disallowed, pairs, clusters (connected components),
            best_copy_groups, hash_clusters, lower_quality (copies in best-copy groups: lower_quality.json's
            length); then files split four ways, adding up to files: images_compared, not_images,
            unreadable_images, skipped (`file_counts` has their breakdowns); related (pairs of multi-frame files
            whose first frames match but not all their frames, `fastdiff.thumbnails.frames`: never copies).
        """
        counts = self.file_counts()
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
            "best_copy_groups": self.cluster_count("best_copy"),
            "hash_clusters": self.hash_cluster_count(),
            "lower_quality": self._con.execute("SELECT COUNT(*) FROM best_copy_group").fetchone()[0],
            "images_compared": counts.compared,
            "not_images": sum(counts.not_images.values()),
            "unreadable_images": sum(counts.unreadable.values()),
            "skipped": counts.n_skipped,
            "related": self._con.execute(f"SELECT COUNT(*) FROM dif_pair WHERE success = {RELATED}").fetchone()[0],
        }

    # --- notebook views (fastdiff.merge.db.gallery)
    def groups(
        self, page: int = 1, page_size: int = 10, kind: ClusterKind = "best_copy", max_mse: float | None = None
    ) -> GroupsView:
        """A page of `clusters(kind, max_mse)`, which Jupyter shows as a gallery of thumbnails.

        Parameters
        ----------
        page : int
            From 1; a page past the last is empty.
        page_size : int
            Groups per page.
        kind, max_mse
            As `clusters`; best-copy groups by default.

        Returns
        -------
        GroupsView
            Its `items` are the page's `Cluster`s; `_repr_html_` renders them.

        Raises
        ------
        ValueError
            For page or page_size < 1, and as `clusters`.
        """
        from fastdiff.merge.db.gallery import GroupsView

        return GroupsView(self, page, page_size, kind, max_mse)

    def pairs_page(self, page: int = 1, page_size: int = 20, max_mse: float | None = None) -> PairsView:
        """A page of `pairs(max_mse)`, which Jupyter shows as the two thumbnails of each pair.

        Parameters
        ----------
        page : int
            From 1; a page past the last is empty.
        page_size : int
            Pairs per page.
        max_mse : float, optional
            As `pairs`.

        Returns
        -------
        PairsView
            Its `items` are the page's `Pair`s; `_repr_html_` renders them.

        Raises
        ------
        ValueError
            For page or page_size < 1.
        """
        from fastdiff.merge.db.gallery import PairsView

        return PairsView(self, page, page_size, max_mse)

    def _repr_html_(self) -> str:
        """Jupyter's view of the database: its summary and the first page of best-copy groups."""
        from fastdiff.merge.db.gallery import SCOPE, summary_html

        groups = self.groups()._repr_html_()
        return f'<div class="{SCOPE}">{summary_html(self)}</div>{groups}'

    def drop_diff(self, threshold: float) -> int:
        """Delete the pairs with an MSE > threshold and rebuild the best-copy groups (Fast-Diff-Py's `drop_diff`).

        Opens its own read-write connection. Only the database changes: results.json and the other files of the
        run are not rewritten.

        Parameters
        ----------
        threshold : float
            MSE on the 0-255 scale.

        Returns
        -------
        int
            The number of pairs deleted.

        Raises
        ------
        ValueError
            If threshold is not a number >= 0.
        """
        if not threshold >= 0:
            raise ValueError("threshold must be a number >= 0")
        rw = sqlite3.connect(self.path)
        try:
            # the pairs of exact groups have MSE 0: none is above a threshold >= 0
            table = pair_table_of(rw)
            deleted = rw.execute(f"DELETE FROM {table} WHERE success IN (1, 2) AND dif > ?", (threshold,)).rowcount
            rw.execute("DELETE FROM best_copy_group")
            store_best_copy_groups(rw)  # commits
        finally:
            rw.close()
        self._con.execute("DELETE FROM temp.component")
        self._levels.clear()
        return deleted
