# The playlist service (`make serve`) in a container. No Docker daemon runs on the lab's
# machines: this file is kept honest by tests/test_containers.py, not by a build in CI.
#
#   dvc repro                       # publishes reports/playlists, models/, data/interim
#   docker build -t pozytywka-serve .
#   docker run -p 8000:8000 pozytywka-serve
#
# The image holds the code, the pinned lock (requirements.lock, installed with uv) and what
# the pipeline published; the service never trains (DESIGN §9). Settings come from the
# environment (src/pozytywka/serve/settings.py): POZYTYWKA_STORE, POZYTYWKA_ADMIN_TOKEN.
FROM python:3.11-slim

ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONHASHSEED=0 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    POZYTYWKA_ROOT=/app \
    POZYTYWKA_STORE=sqlite:///data/serving/log.sqlite

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --create-home --uid 10001 pozytywka

WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN uv venv "$VIRTUAL_ENV" && uv pip sync --python "$VIRTUAL_ENV/bin/python" requirements.lock
COPY src/ src/
RUN uv pip install --python "$VIRTUAL_ENV/bin/python" --no-deps .

# What the pipeline published (run `dvc repro` before building).
COPY params.yaml dvc.lock ./
COPY models/ models/
COPY reports/playlists/ reports/playlists/
COPY data/interim/ data/interim/
COPY data/processed/weekly_popularity.parquet data/processed/
RUN mkdir -p data/serving && chown -R pozytywka:pozytywka data/serving

USER pozytywka
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["pozytywka", "serve", "--host", "0.0.0.0", "--port", "8000"]
