"""The ``pozytywka`` console script.

Each DVC stage is a subcommand (``pozytywka train`` is what dvc.yaml runs), and
so are the things that are not stages (``summary``, ``report``, ``bench``).
Errors a user can cause print one line and exit 2; bugs keep their traceback.

Every subcommand runs in the project root (:func:`pozytywka.paths.find_root`),
from whichever folder inside the project it is started, as ``dvc`` does; paths
given on the command line (``--params``, ``--out`` ...) are relative to the
folder it was started in (:class:`UserPath`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from . import numerics, paths
from .errors import PozytywkaError

log = logging.getLogger(__name__)

# subcommand -> (module under pozytywka.stages, one-line help)
STAGES = {
    "validate": ("validate", "check params.yaml and the data source before any stage runs"),
    "generate": ("generate", "write the synthetic Pozytywka dump to data/raw/synthetic/"),
    "ingest": ("ingest", "validate and clean the dump at data.source into data/interim/"),
    "features": ("features", "weekly track features and next-week target"),
    "baseline": ("baseline", "fit the last-week-popularity baseline"),
    "train": ("train", "train the CatBoost model with early stopping on a validation week"),
    "evaluate": ("evaluate", "time-based backtest of baseline vs CatBoost"),
    "evaluate_sets": ("evaluate_sets", "the backtest's playlist sets: reach, capture@k"),
    "playlists": ("playlists", "build next week's popular playlists"),
    "ab_test": ("ab_test", "A/B simulation of baseline (A) vs CatBoost (B) playlists"),
    "ab_peeking": ("ab_peeking", "A/A and planted-effect experiments looked at every day"),
    "skips_features": (
        "skips_features",
        "one row per play: skipped or not, features known at its start",
    ),
    "skips_train": ("skips_train", "skip baselines and CatBoost for the week after the data"),
    "skips_evaluate": ("skips_evaluate", "rolling-week backtest of the skip models"),
    "skips_cache": ("skips_cache", "cache simulation: what the skip predictions save"),
    "recs_interactions": ("recs_interactions", "implicit feedback per week, listener and track"),
    "recs_evaluate": ("recs_evaluate", "tune, then evaluate the recommenders week by week"),
    "recs_publish": ("recs_publish", "next week's recommendations for every listener"),
    "hindsight": ("hindsight", "score the previously published playlists on their week"),
    "drift": ("drift", "what moved in the newest week of data vs the weeks before"),
    "headline": ("headline", "the few figures per product DVC shows as metrics"),
}


class UserPath(argparse.Action):
    """Store a path option as given, made absolute against the folder the command started in.

    Only options the user types go through an action (defaults do not), so a
    default like ``params.yaml`` stays relative to the project root the
    command then moves to, and ``--out report.md`` typed in ``src/`` stays in ``src/``.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, type(values)(Path(values).absolute()))


#: Stages that run before the dump's weeks are counted (``eval_weeks`` is not fitted).
UNFITTED = {"validate", "generate", "ingest"}
#: Stages that evaluate a product: they say when its ``eval_weeks`` was lowered.
EVALUATING = {"evaluate", "skips_evaluate", "recs_evaluate"}


def _run_stage(module: str, params_path: str) -> None:
    from .checks import apply_to_stage
    from .config import load_params

    params = load_params(params_path)
    if module not in UNFITTED:  # a short dump: fewer evaluated weeks (checks.py)
        params = apply_to_stage(params, paths.DATA_QUALITY, warn=module in EVALUATING)
    importlib.import_module(f"pozytywka.stages.{module}").run(params)


def _command_word(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names (the first word after the global options), if any."""
    words = iter(argv)
    for word in words:
        if word == "--params":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(commands: bool = True) -> argparse.ArgumentParser:
    """The CLI; ``commands=False`` registers only the stages (a stage run then skips
    importing every other command's modules: seconds of start-up per stage)."""
    parser = argparse.ArgumentParser(prog="pozytywka", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--params",
        default="params.yaml",
        action=UserPath,
        help="params file (default: the project root's %(default)s)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in STAGES.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(func=lambda args, m=module: _run_stage(m, args.params))
    # Non-stage commands register themselves with their own arguments.
    modules = ("summary", "report", "bench", "retrain", "scoreboard")
    modules += ("serve", "traffic", "bench_store", "bench_serve", "realism")
    for module in modules if commands else ():
        try:
            mod = importlib.import_module(f"pozytywka.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"pozytywka.commands.{module}":
                raise
            continue
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    is_stage = _command_word(argv) in STAGES
    if is_stage:
        # Before anything imports NumPy: the same bytes on every CPU (numerics.py).
        numerics.pin_for_stage()
    parser = build_parser(commands=not is_stage)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        root = paths.find_root(Path.cwd())
        if root is not None and root != Path.cwd().absolute():
            log.info("running in the project root %s", root)
            os.chdir(root)
        result = args.func(args)
    except PozytywkaError as exc:
        print(f"pozytywka {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pozytywka {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
