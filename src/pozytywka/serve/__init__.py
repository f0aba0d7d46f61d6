"""The playlist service (DESIGN §9): serve both arms, log exposures and events, read the experiment.

``settings`` (the environment), ``artifacts`` (what the pipeline published),
``store`` (the log: SQLite or PostgreSQL through SQLAlchemy Core), ``app``
(the FastAPI factory), ``routers`` (one per concern), ``readout`` (the
experiment from the log, with :mod:`pozytywka.experiment`'s statistics) and
``traffic`` (the behaviour model's listeners played against a running service).
"""
