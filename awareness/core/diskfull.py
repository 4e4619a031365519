"""A full disk said plainly: what is full, and that nothing was lost (issue 16).

Every write is one transaction, so a write that finds the disk full is rolled
back whole: items not stored stay unstored (their source is fetched again next
time, its state untouched), and a delivery is recorded only after the mail
server accepted the message.  So the only thing to tell the admin is where
space is needed, and that the next run carries on.
"""

from __future__ import annotations

import errno
from pathlib import Path

_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_disk_full(error: BaseException | None) -> bool:
    """True for an OSError ENOSPC/EDQUOT or a database saying it is full, however wrapped."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
            return True
        if any(text in str(error).lower() for text in _FULL_TEXTS):
            return True
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
        seen += 1
    return False


def explain(error: BaseException, database_url: str | None = None) -> str:
    """One message for a person: which file's disk is full, what happened to the work, what to do."""
    filename = getattr(error, "filename", None)
    if filename:
        what, folder = f"the file {filename}", Path(str(filename)).parent
    elif database_url and database_url.startswith("sqlite:///"):
        path = Path(database_url.split("///", 1)[1].split("?", 1)[0])
        what, folder = f"the database {path}", path.parent
    elif database_url:
        what, folder = "the database server's disk (or its quota)", None
    else:
        what, folder = "a file", None
    where = f" (see `df -h {folder}`)" if folder else ""
    return (f"the disk is full: could not write {what}{where}. Nothing was lost: the change in progress was "
            "rolled back, every message that went out is recorded, and whatever was not stored or sent is "
            "still due. Free some space, then run again: the next run carries on from here.")
