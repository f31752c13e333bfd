"""One actsearch process per results folder at a time.

Two runs into the same folder (a notebook cell started twice, a second terminal) would both
train every trial and overwrite each other's files. An OS file lock on
`<folder>/.actsearch.lock` refuses the second run; the kernel drops the lock when its holder
dies, so a folder left by a killed run is taken over without any flag.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from actsearch.errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no flock; run without the guard rather than not at all
    fcntl = None

LOCK_NAME = ".actsearch.lock"


def lock_path(root: Path) -> Path:
    return Path(root) / LOCK_NAME


def describe_holder(text: str) -> str:
    """'pid 1234 on host, since 2026-11-23T19:40' from the lock file's record (or a hint)."""
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
    except (ValueError, KeyError, TypeError):
        return "its process is still starting"


@contextmanager
def results_lock(root: Path) -> Iterator[None]:
    """Hold the folder's lock for the block, or raise UserError naming the process that has it.

    Creates the folder if needed. The lock lives as long as the open file descriptor: closed on
    exit from the block, and by the kernel if the process dies.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(lock_path(root), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(os.pread(fd, 4096, 0).decode(errors="replace"))
            raise UserError(f"{root} is in use by another actsearch run ({holder}); "
                            f"wait for it or use --out DIR") from None
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now().isoformat(timespec="minutes")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
