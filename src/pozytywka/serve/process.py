"""The service as a child process on a free loopback port (``make ab-live``, the tests).

:class:`ServiceProcess` starts ``pozytywka serve`` with the given environment,
waits until ``/readyz`` answers 200 (or the process dies: its stderr's last line
is the error), and on exit sends SIGTERM and waits for the graceful shutdown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from ..errors import PozytywkaError


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """``with ServiceProcess(root, env) as svc: httpx.get(svc.url + "/healthz")``."""

    def __init__(
        self,
        root: Path | str,
        env: Mapping[str, str],
        port: int | None = None,
        startup_timeout: float = 300.0,
        log_path: Path | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        """``log_path``: where the server's output goes (default: a temp file);
        ``args``: more ``pozytywka serve`` arguments (e.g. ``("--workers", "2")``)."""
        self.root = Path(root)
        self.env = {**os.environ, **env}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.log_path = Path(
            log_path or tempfile.mkstemp(prefix="pozytywka-serve-", suffix=".log")[1]
        )
        self.args = tuple(args)
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServiceProcess:
        cmd = [sys.executable, "-m", "pozytywka.cli", "serve", "--port", str(self.port)]
        cmd += ["--root", str(self.root), *self.args]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=self.root, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.log().strip().splitlines()
                raise PozytywkaError(
                    f"the service exited on start: {err[-1] if err else self.proc.returncode}"
                )
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        raise PozytywkaError(f"the service did not get ready in {self.startup_timeout:.0f} s")

    def log(self) -> str:
        """The server's output so far (uvicorn's log, one-line errors)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM (graceful) and wait; returns the exit status.

        uvicorn finishes the requests in flight, runs the app's shutdown, then
        re-raises the signal, so a graceful stop exits with -SIGTERM.
        """
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: the crash the durability test simulates."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.terminate()
