"""The container files say what ``make serve`` and the settings say (no Docker daemon here).

``Dockerfile`` is read line by line (instructions, continuation lines joined);
``compose.yaml`` and ``deploy/prometheus.yml`` with yaml. They must name the
command of the Makefile's ``serve`` recipe, its port, and only environment
variables that ``settings.py`` reads (at least the store and the admin token),
with values ``settings_from_env`` accepts.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from pozytywka.serve import settings as settings_module
from pozytywka.serve.settings import settings_from_env

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_ENV = {"POZYTYWKA_STORE", "POZYTYWKA_ADMIN_TOKEN"}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, comments dropped, continuations joined."""
    out, buf = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        part = line.removesuffix("\\").strip()
        buf = f"{buf} {part}" if buf else part
        if not line.endswith("\\"):
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def make_serve() -> tuple[list[str], str]:
    """The ``serve`` recipe's words after the binary directory, and the Makefile's PORT."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^serve:.*\n\t(.+)$", text, re.M).group(1)
    port = re.search(r"^PORT \?= *(\d+)$", text, re.M).group(1)
    words = [w.removeprefix("$(BIN)/") for w in shlex.split(recipe)]
    return words, port


def with_port(words: list[str], port: str, host: str) -> list[str]:
    return [{"$(PORT)": port, "$(HOST)": host}.get(w, w) for w in words]


def settings_env_names() -> set[str]:
    return set(re.findall(r"\"(POZYTYWKA_[A-Z_]+)\"", Path(settings_module.__file__).read_text()))


def test_dockerfile_base_user_lock_healthcheck_and_command():
    ins = dockerfile()
    kinds = [k for k, _ in ins]
    assert ins[0] == ("FROM", "python:3.11-slim")
    users = [a for k, a in ins if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    # the pinned lock, installed with uv, before the code
    runs = " ".join(a for k, a in ins if k == "RUN")
    assert "uv pip sync" in runs and "requirements.lock" in runs
    assert kinds.index("USER") < kinds.index("CMD")
    words, port = make_serve()
    cmd = json.loads(dict(ins)["CMD"])
    assert cmd == with_port(words, port, host="0.0.0.0")
    assert dict(ins)["EXPOSE"] == port
    health = dict(ins)["HEALTHCHECK"]
    assert f"http://127.0.0.1:{port}/healthz" in health
    env = dict(ins)["ENV"]
    names = set(re.findall(r"(POZYTYWKA_[A-Z_]+)=", env))
    assert names <= settings_env_names()
    values = dict(re.findall(r"(POZYTYWKA_[A-Z_]+)=(\S+)", env))
    assert settings_from_env(values).store_url == values["POZYTYWKA_STORE"]


def test_compose_service_postgres_and_prometheus():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    svc = compose["services"]["playlists"]
    words, port = make_serve()
    assert svc["command"] == with_port(words, port, host="0.0.0.0")
    assert [p.split(":")[-1] for p in svc["ports"]] == [port]
    env = svc["environment"]
    assert set(env) >= REQUIRED_ENV and set(env) <= settings_env_names()
    # the store is the compose PostgreSQL, a URL the settings accept
    resolved = {k: re.sub(r"\$\{[^}]*\}", "", str(v)) for k, v in env.items()}
    s = settings_from_env(resolved)
    assert s.database_url.startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in s.store_url
    assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    prom = compose["services"]["prometheus"]
    mounted = prom["volumes"][0].split(":")[0]
    config = yaml.safe_load((ROOT / mounted).read_text())
    job = config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"playlists:{port}"]


def test_the_settings_read_the_variables_the_containers_set():
    assert settings_env_names() >= REQUIRED_ENV
    s = settings_from_env({"POZYTYWKA_STORE": "postgresql://u@h:1/d", "POZYTYWKA_ADMIN_TOKEN": "t"})
    assert (s.store_url, s.admin_token) == ("postgresql://u@h:1/d", "t")
