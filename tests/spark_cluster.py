"""A Spark standalone cluster on loopback for the tests: one master and N workers.

Each daemon is its own process (``bin/spark-class`` of the ``pyspark`` package,
``org.apache.spark.deploy.master.Master`` / ``...deploy.worker.Worker``), started
in a new process group so that stopping it also ends the executors it launched.
Everything binds to 127.0.0.1 on free ports; the work and log folders are under
the caller's folder. :func:`standalone_cluster` is a context manager that always
stops every process it started (SIGTERM, then SIGKILL after a few seconds).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


def free_port() -> int:
    """A TCP port nobody listens on at the moment (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_home() -> Path:
    """The Spark distribution the ``pyspark`` package ships (``bin/spark-class``)."""
    import pyspark

    return Path(pyspark.__file__).parent


def _env(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(folder / "local"),
        "SPARK_LOG_DIR": str(folder / "logs"),
        "SPARK_WORKER_DIR": str(folder / "work"),
        "SPARK_NO_DAEMONIZE": "1",
    }


def alive_workers(web_port: int) -> int:
    """Workers registered ALIVE with the master, from its web UI's JSON (0 if unreachable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/json/", timeout=2) as r:
            state = json.load(r)
    except OSError:
        return 0
    return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")


def stop(processes: list[subprocess.Popen], grace: float = 10.0) -> None:
    """End each process group (SIGTERM, SIGKILL after ``grace`` seconds) and reap it."""
    for proc in processes:
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in processes:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        with suppress(ProcessLookupError):  # the group too: executors a worker started
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def standalone_cluster(
    folder: Path, workers: int = 2, cores: int = 1, memory: str = "512m", timeout: float = 120.0
) -> Iterator[str]:
    """Start a master and ``workers`` workers on 127.0.0.1; yield the master URL; stop all.

    Raises ``TimeoutError`` (after stopping what started) when the workers have not
    registered within ``timeout`` seconds.
    """
    folder.mkdir(parents=True, exist_ok=True)
    env = _env(folder)
    spark_class = str(spark_home() / "bin" / "spark-class")
    port, web = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    processes: list[subprocess.Popen] = []

    def launch(name: str, args: list[str]) -> None:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        processes.append(
            subprocess.Popen(
                [spark_class, *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        log.close()

    try:
        launch(
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(web),
            ],
        )
        for i in range(workers):
            launch(
                f"worker{i}",
                [
                    "org.apache.spark.deploy.worker.Worker",
                    url,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    str(cores),
                    "--memory",
                    memory,
                    "--webui-port",
                    str(free_port()),
                    "--work-dir",
                    str(folder / f"work{i}"),
                ],
            )
        deadline = time.monotonic() + timeout
        while alive_workers(web) < workers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{workers} Spark workers did not register in {timeout:.0f} s")
            if any(p.poll() is not None for p in processes):
                logs = "".join(
                    (folder / f).read_text(errors="replace")[-2000:]
                    for f in os.listdir(folder)
                    if f.endswith(".log")
                )
                raise RuntimeError(f"a Spark daemon exited early:\n{logs}")
            time.sleep(0.5)
        yield url
    finally:
        stop(processes)
