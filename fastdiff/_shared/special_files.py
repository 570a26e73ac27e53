"""Named pipes, sockets and devices (and links to them) among the user's files: recognised before they are read.

Opening a named pipe for reading blocks until a writer appears, and reading a character device may never end, so
every place that reads a user's file opens it with `open_regular`: the path is checked with os.stat (links
followed) first, then opened without blocking and checked again on the open descriptor, so a file swapped in
between cannot block either.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

_KINDS = (
    (stat.S_ISFIFO, "named pipe"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


class NotRegularFile(OSError):
    """A path names a named pipe, socket or device (or a link to one) instead of a regular file.

    Attributes
    ----------
    kind : str
        What the path is, e.g. 'named pipe'.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        super().__init__(f"not a regular file ({kind})")
        self.filename = os.fspath(path)
        self.kind = kind

    def __str__(self) -> str:
        return f"not a regular file ({self.kind}): {self.filename!r}"


def kind_of(mode: int) -> str:
    """What a file of this st_mode is, in words.

    Parameters
    ----------
    mode : int
        An st_mode from os.stat.

    Returns
    -------
    str
        'regular file', 'directory', 'named pipe', 'socket', 'character device', 'block device' or 'special file'.
    """
    if stat.S_ISREG(mode):
        return "regular file"
    if stat.S_ISDIR(mode):
        return "directory"
    return next((kind for test, kind in _KINDS if test(mode)), "special file")


def _check(path: str | os.PathLike[str], st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):  # as the built-in open() reports a directory
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, kind_of(st.st_mode))


def check_regular(path: str | os.PathLike[str]) -> None:
    """Raise unless path (links followed) is a regular file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Raises
    ------
    NotRegularFile
        It is a named pipe, socket or device.
    IsADirectoryError
        It is a directory.
    OSError
        os.stat failed (missing file, broken link, permission).
    """
    _check(path, os.stat(path))


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for binary reading, never blocking on a named pipe or device.

    Parameters
    ----------
    path : str or os.PathLike
        The file (links are followed).

    Returns
    -------
    BinaryIO
        A buffered binary reader; close it (use it as a context manager).

    Raises
    ------
    NotRegularFile
        It is a named pipe, socket or device.
    IsADirectoryError
        It is a directory.
    OSError
        It cannot be opened.
    """
    check_regular(path)  # a socket cannot be opened at all: name it before trying
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _check(path, os.fstat(fd))  # what was opened, in case the file was replaced after the first check
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
