"""How like the real service is the synthetic one: statistics per dump, side by side (issue 21).

``stats`` holds one pure function per statistic; ``load`` turns a dump folder into
the compact log they read (through the project's own ingest); ``report`` writes
``reports/realism/``. ``pozytywka realism`` (commands/realism.py) runs them.
"""
