"""The schema of the result database `OUT/fastdiff.sqlite`: Fast-Diff-Py 1.0.4's tables (directory, hash_table,
dif_table, with its column names and success codes) plus best_copy_group, keeper and run_config, the nearest
neighbours and outliers (config keys neighbors, outlier_mse) and the frame counts of multi-frame files.

dif_table is a view: the pairs computed (computed_pair) and, at threshold 0, the pairs between the members of each
group of equal thumbnails (exact_group), which are stored once per member instead of once per pair."""

from __future__ import annotations

# The hash columns of directory, one per symmetry code k = 0..7 (fastdiff.compare.kernel.transform): the rotations, then
# the rotations of the mirror image (mirror: true; NULL otherwise).
HASH_COLUMNS = ("hash_0", "hash_90", "hash_180", "hash_270", "hash_f0", "hash_f90", "hash_f180", "hash_f270")
# The smallest hash key of an image's symmetries: equal for exactly the images whose thumbnails are equal up to a
# rotation (or a symmetry, with mirror: their hashes are then the same set), NULL for images without hashes.
HASH_CLUSTER_ID = "MIN(hash_0, " + ", ".join(f"COALESCE({c}, hash_0)" for c in HASH_COLUMNS[1:]) + ")"

SCHEMA = f"""
CREATE TABLE directory (
    key INTEGER PRIMARY KEY,             -- index order; rejected entries follow the indexed files
    path TEXT NOT NULL,                  -- readable text (fastdiff._shared.paths.display), not unique
    path_bytes BLOB NOT NULL UNIQUE,     -- the path's exact bytes (os.fsencode); no two entries share one
    filename TEXT NOT NULL,              -- readable text of the last path component
    error TEXT,                          -- why the file was not compared (NULL when it was)
    success INTEGER NOT NULL DEFAULT -1 CHECK (success IN (-1, 0, 1)),  -- 1 decoded, 0 error, -1 not attempted
    px INTEGER NOT NULL DEFAULT -1,      -- original height (EXIF-oriented), as Fast-Diff-Py
    py INTEGER NOT NULL DEFAULT -1,      -- original width
    allowed INTEGER NOT NULL CHECK (allowed IN (0, 1)),  -- passed the extension filter and is not an alias
    file_size INTEGER NOT NULL DEFAULT -1,
    created REAL NOT NULL DEFAULT -1,    -- st_ctime
    mtime_ns INTEGER NOT NULL DEFAULT -1,  -- st_mtime_ns at indexing (-1 unknown)
    inode INTEGER NOT NULL DEFAULT -1,   -- st_ino at indexing (-1 unknown): actions check the file is still the one
    device INTEGER NOT NULL DEFAULT -1,  -- st_dev at indexing (-1 unknown)      compared (fastdiff.actions.safe_files)
    link INTEGER NOT NULL DEFAULT 0 CHECK (link IN (0, 1)),  -- 1: the path is a symbolic link (at indexing)
    prefer_rank INTEGER,                 -- decoded images: position of the first `prefer` folder holding it, or
                                         -- the number of those folders (fastdiff.merge.keeper.preference); else NULL
    copy_marks INTEGER,                  -- decoded images: copy marks of the path (merge.keeper); else NULL
    keeper_rank INTEGER UNIQUE,          -- decoded images in the keeper order, 0 first (merge.keeper); else NULL
    dir_index INTEGER NOT NULL DEFAULT -1,  -- position of its input directory (part_a then part_b)
    part_b INTEGER NOT NULL DEFAULT 0 CHECK (part_b IN (0, 1)),
    hash_0 INTEGER REFERENCES hash_table (key),
    hash_90 INTEGER REFERENCES hash_table (key),
    hash_180 INTEGER REFERENCES hash_table (key),
    hash_270 INTEGER REFERENCES hash_table (key),
    hash_f0 INTEGER REFERENCES hash_table (key),    -- rot90(fliplr(thumbnail), k), with mirror only
    hash_f90 INTEGER REFERENCES hash_table (key),
    hash_f180 INTEGER REFERENCES hash_table (key),
    hash_f270 INTEGER REFERENCES hash_table (key),
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE hash_table (
    key INTEGER PRIMARY KEY,
    hash TEXT UNIQUE NOT NULL,           -- sha-256 of a thumbnail rotation (or mirrored rotation) after shift_amount
    count INTEGER NOT NULL CHECK (count >= 0)  -- occurrences in directory.hash_0..hash_f270
);
CREATE TABLE computed_pair (           -- the pairs of dif_table that are not between members of an exact group
    key INTEGER PRIMARY KEY,
    key_a INTEGER NOT NULL REFERENCES directory (key),
    key_b INTEGER NOT NULL REFERENCES directory (key),
    dif REAL NOT NULL CHECK (dif >= -1), -- MSE over px*px*3 values (0..255 scale), min over rotations (mirror: 8)
    success INTEGER NOT NULL CHECK (success IN (0, 1, 2, 3, 4)),  -- 1 computed, 2 hash match, 3 size/aspect
                                         -- mismatch, 4 related: the first frames match, but the frame counts or
                                         -- a later frame do not (multi-frame files, fastdiff.thumbnails.frames)
    error TEXT,
    rotation INTEGER,                    -- k: dif = MSE(a, T_k(b)), the first k reaching it; NULL for hash matches.
                                         -- T_k = rot90(b, k) for k = 0..3 (counter-clockwise), and with mirror
                                         -- T_k = rot90(fliplr(b), k - 4) for k = 4..7 (fliplr: left-right)
    UNIQUE (key_a, key_b)
);
CREATE TABLE exact_group (             -- threshold 0: groups of images whose thumbnails are equal up to a symmetry
    member INTEGER PRIMARY KEY REFERENCES directory (key),
    grp INTEGER NOT NULL REFERENCES directory (key),  -- the group's smallest member
    symmetry INTEGER NOT NULL,           -- the smallest k with thumbnail(member) = T_k(thumbnail(grp)), as rotation
    stabiliser INTEGER NOT NULL,         -- bit mask of the k with T_k(thumbnail(grp)) = thumbnail(grp)
    part_b INTEGER                       -- with partition B its directory.part_b (only A x B pairs), else NULL
);
CREATE TABLE exact_rotation (          -- dif_table.rotation of members a < b of a group: a = T_rotation(b)
    stabiliser INTEGER NOT NULL,
    symmetry_a INTEGER NOT NULL,
    symmetry_b INTEGER NOT NULL,
    rotation INTEGER NOT NULL,
    PRIMARY KEY (stabiliser, symmetry_a, symmetry_b)
) WITHOUT ROWID;
CREATE TABLE best_copy_group (
    member INTEGER PRIMARY KEY REFERENCES directory (key),  -- a lower-quality copy
    head INTEGER NOT NULL REFERENCES directory (key),       -- the best copy it matched
    dif REAL NOT NULL,
    kept_because TEXT NOT NULL           -- why head is kept rather than this member: the first criterion of the
                                         -- keeper order where they differ (fastdiff.merge.keeper.KEEP_REASONS)
);
CREATE TABLE keeper (                    -- the keeper order the images were ranked in (config key `keep`)
    position INTEGER PRIMARY KEY,
    criterion TEXT NOT NULL              -- a name of fastdiff.merge.keeper.KEEP_CRITERIA
);
CREATE TABLE frames (                    -- the multi-frame files (pages of a TIFF, an animation's frames)
    key INTEGER PRIMARY KEY REFERENCES directory (key),
    count INTEGER NOT NULL CHECK (count > 1)  -- the number of frames (single-frame files are not listed)
);
CREATE TABLE run_config (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE neighbors (                -- config key neighbors: the k closest images of each image
    key INTEGER NOT NULL REFERENCES directory (key),
    rank INTEGER NOT NULL CHECK (rank >= 1),  -- 1 the closest; equal MSE: the neighbour with the smaller key first
    neighbor_key INTEGER NOT NULL REFERENCES directory (key),
    mse REAL NOT NULL,                  -- as dif_table.dif: MSE over px*px*3 values, min over the symmetries
    PRIMARY KEY (key, rank)
);
CREATE TABLE outlier (                  -- config key outlier_mse: images whose nearest neighbour is farther
    key INTEGER PRIMARY KEY REFERENCES directory (key),
    nearest_mse REAL                    -- the nearest neighbour's MSE; NULL: no image it may be compared with
);
CREATE INDEX directory_part_b ON directory (part_b);
CREATE INDEX directory_success ON directory (success);
CREATE INDEX directory_size ON directory (file_size, created);
CREATE INDEX directory_hash_0 ON directory (hash_0);
CREATE INDEX directory_hash_90 ON directory (hash_90);
CREATE INDEX directory_hash_180 ON directory (hash_180);
CREATE INDEX directory_hash_270 ON directory (hash_270);
CREATE INDEX directory_hash_f0 ON directory (hash_f0);
CREATE INDEX directory_hash_cluster ON directory ({HASH_CLUSTER_ID}, key);
CREATE INDEX computed_pair_key_b ON computed_pair (key_b);
CREATE INDEX exact_group_grp ON exact_group (grp, member);
CREATE INDEX best_copy_group_head ON best_copy_group (head);
CREATE VIEW dif_pair AS                -- dif_table without its key column (filters on key_a, key_b use the indexes)
    SELECT key_a, key_b, dif, success, error, rotation FROM computed_pair
    UNION ALL
    SELECT a.member, b.member, 0.0, 1, NULL, r.rotation
    FROM exact_group a JOIN exact_group b ON b.grp = a.grp AND b.member > a.member
    JOIN exact_rotation r ON r.stabiliser = a.stabiliser AND r.symmetry_a = a.symmetry AND r.symmetry_b = b.symmetry
    WHERE a.part_b IS NULL OR (a.part_b = 0 AND b.part_b = 1);
CREATE VIEW dif_table AS               -- Fast-Diff-Py's dif_table: every pair, numbered in (key_a, key_b) order
    SELECT ROW_NUMBER() OVER (ORDER BY key_a, key_b) AS key, key_a, key_b, dif, success, error, rotation
    FROM dif_pair;
CREATE VIEW matching_pairs AS           -- the matching pairs with their paths (success 1 computed, 2 hash match)
    SELECT t.key_a, a.path AS path_a, t.key_b, b.path AS path_b, t.dif, t.success = 2 AS hash_match, t.rotation
    FROM dif_pair t JOIN directory a ON a.key = t.key_a JOIN directory b ON b.key = t.key_b
    WHERE t.success IN (1, 2);
"""

DIRECTORY_COLUMNS = (
    "key",
    "path",
    "path_bytes",
    "filename",
    "error",
    "success",
    "px",
    "py",
    "allowed",
    "file_size",
    "created",
    "mtime_ns",
    "link",
    "dir_index",
    "part_b",
    "inode",
    "device",
)
