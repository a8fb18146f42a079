"""A data dir private to Parlor's user: private chats, the Redis log and the cookie secret are
nobody else's to read on a shared host, whatever the umask Parlor was started with."""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("parlor")

PRIVATE_DIR_MODE = 0o700  # only Parlor's user lists or enters a folder of the data dir ...
PRIVATE_FILE_MODE = 0o600  # ... or reads a file of it (a chat, the AOF, the secret)
PRIVATE_UMASK = 0o077  # what Parlor and its Redis make, they make private


def private_dir(path: Path) -> Path:
    """Make the folder (and its parents) if need be, private to this user; returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


def create_private_file(path: Path) -> None:
    """Make an empty file readable by this user only, unless it exists (SQLite then gives its
    -wal and -shm files the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass


def private_opener(path: str, flags: int) -> int:
    """open()'s opener for a file readable by this user only, whatever the umask."""
    return os.open(path, flags, PRIVATE_FILE_MODE)


def tighten(folder: Path) -> int:
    """Take every permission of group and others off the folder and everything in it (folders
    0700, files 0600; a socket is left to its server); returns how many entries changed."""
    changed = 0
    for directory, folders, files in os.walk(folder):
        for path in [Path(directory), *(Path(directory) / name for name in files)]:
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:  # gone meanwhile (a WAL checkpointed away)
                continue
            if stat.S_ISLNK(mode) or stat.S_ISSOCK(mode) or not mode & 0o077:
                continue
            os.chmod(path, PRIVATE_DIR_MODE if stat.S_ISDIR(mode) else PRIVATE_FILE_MODE)
            changed += 1
    return changed


def make_data_dir_private(data_dir: Path) -> None:
    """From now on this process (and what it starts) makes its files private; the data dir, and
    whatever an earlier version left readable in it, is made private now, with one log line."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    changed = tighten(data_dir)
    if changed:
        log.warning("made %d file(s) and folder(s) of %s private to this user: they were readable by others",
                    changed, data_dir)
