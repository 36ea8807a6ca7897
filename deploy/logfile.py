"""`-Dflume.root.logger=LEVEL,LOGFILE`: the agent's log in one rotated file, as Flume's log4j
writes `./logs/flume.log` (rolled at 100 MB, 20 kept).

Every component writes its lines to supervisord's stdout; the launcher reads that one stream
and is the file's only writer, so rotation is safe (several processes rotating one file would
lose lines).
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
from typing import IO

MAX_BYTES = 100 * 1024 * 1024
BACKUPS = 20


def copier(stream: IO[bytes], path: str, console: bool) -> threading.Thread:
    """A started thread copying `stream`'s lines into `path` (and to stdout with `console`)
    until it ends."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES,
                                                   backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))

    def copy() -> None:
        for raw in stream:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
            if console:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
        handler.close()
    thread = threading.Thread(target=copy, name="logfile", daemon=True)
    thread.start()
    return thread
