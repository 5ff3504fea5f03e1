"""Free loopback ports and stopping what was started: process groups and whole process trees.

Every server here is started with ``start_new_session=True`` so that it and the children it forks
share one process group that can be signalled at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The virtualenv's ``bin`` folder: the ``airflow`` and ``moto_server`` of this interpreter.
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_http(url: str) -> bool:
    """Whether a server answers ``url`` at all (an HTTP error status is an answer)."""
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def path_with_bin() -> str:
    """``PATH`` with this interpreter's ``bin`` first: Airflow starts its components as ``airflow``."""
    return f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def stop_group(proc: subprocess.Popen[bytes] | None, *, grace: float = 10, linger: float = 0) -> None:
    """SIGTERM the process group of ``proc`` and wait ``grace`` s for the leader.

    ``linger`` gives the rest of the group (children that outlive the leader while they shut down)
    that long to go before the group is SIGKILLed; with 0 only the leader is killed if it hangs.
    """
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        if not linger:
            proc.kill()
            return
    if not linger:
        return
    deadline = time.monotonic() + linger
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def process_tree(pid: int) -> list[Any]:
    """The process and all its descendants (psutil objects), including ones in other groups."""
    import psutil  # type: ignore[import-untyped]

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def end_tree(proc: subprocess.Popen[bytes], *, grace: float) -> None:
    """SIGTERM the process group, wait up to ``grace`` s, then SIGKILL whatever of the tree is left."""
    import psutil

    tree = process_tree(proc.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    for child in tree[1:]:
        # Task runners live in process groups of their own; they get the signal directly.
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(tree, timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for leftover in alive:
        with contextlib.suppress(psutil.Error):
            leftover.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process tree at once, like a machine that dies."""
    import psutil

    for process in process_tree(proc.pid):
        with contextlib.suppress(psutil.Error):
            process.kill()
    proc.wait(timeout=30)


@dataclass
class Service:
    """One started process (its own process group) and where its output goes."""

    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
