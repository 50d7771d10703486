"""What the torchrun launcher needs from its ranks: each failing rank's own error, and SIGTERM passed on.

A rank that fails writes ``rank<N>.error.json`` (its exception's last line) into a directory the launcher
reads afterwards, so the launcher's one-line error names the cause instead of "see the log", however long
torchrun's own output is. SIGTERM to the launcher (Snakemake cancelling a job, a spot interruption) is
forwarded to torchrun, whose agent sends it to every rank: the training loop then checkpoints and exits.
"""
from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Iterator

FORWARDED = (signal.SIGTERM,)
MAX_CHARS = 1000


def record_error(errors_dir: str | Path | None, rank: int, exc: BaseException) -> None:
    """Write this rank's error (``Type: message``, one line) for the launcher; clean exits write nothing."""
    if not errors_dir or (isinstance(exc, SystemExit) and exc.code in (0, None)):
        return
    if isinstance(exc, SystemExit):  # the training loop's "stopped by signal ...; rerun to resume"
        text = str(exc.code)
    else:
        text = " ".join("".join(traceback.format_exception_only(type(exc), exc)).split())
    doc = {"rank": rank, "time": time.time(), "error": text[:MAX_CHARS]}
    Path(errors_dir, f"rank{rank}.error.json").write_text(json.dumps(doc))


def first_error(errors_dir: str | Path) -> str | None:
    """``rank N: <error>`` of the rank that failed first (the others usually fail because it did)."""
    docs = []
    for f in Path(errors_dir).glob("rank*.error.json"):
        try:
            docs.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            continue
    if not docs:
        return None
    docs.sort(key=lambda d: (d["time"], d["rank"]))
    more = f" (then {len(docs) - 1} more rank(s) failed)" if len(docs) > 1 else ""
    return f"rank {docs[0]['rank']}: {docs[0]['error']}{more}"


@contextlib.contextmanager
def forward_signals(proc) -> Iterator[list[int]]:
    """While inside, SIGTERM to this process is sent on to ``proc``; yields the list of signals received.

    Only the main thread may install handlers; elsewhere nothing is forwarded.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum, frame):
        received.append(signum)
        if proc.poll() is None:
            proc.send_signal(signum)

    old = {s: signal.signal(s, handle) for s in FORWARDED}
    try:
        yield received
    finally:
        for s, h in old.items():
            signal.signal(s, h)
