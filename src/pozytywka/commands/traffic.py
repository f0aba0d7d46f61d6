"""``pozytywka traffic`` and ``pozytywka ab-live``: the live experiment with synthetic listeners.

``traffic`` plays the behaviour model's listeners against a running service
(:mod:`pozytywka.serve.traffic`). ``ab-live`` (``make ab-live``) starts the
service on a temporary SQLite store with the manual clock, plays the published
week for every listener of the synthetic world (the default scale of
``params.yaml``), reads ``/v1/experiments/playlists/results`` and writes
``metrics/ab_live.json`` (the keys of ``metrics/ab.json``) and, under
``reports/ab_live/``, ``lift.png`` (the live lift and interval beside the
simulated one of ``metrics/ab.json``) and ``summary.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import tempfile
from pathlib import Path

from .. import paths
from ..errors import PozytywkaError

log = logging.getLogger(__name__)

AB_LIVE_METRICS = paths.METRICS / "ab_live.json"
AB_LIVE_REPORTS = paths.REPORTS / "ab_live"


def positive_int(text: str) -> int:
    """argparse ``type``: a count of at least 1 (``--listeners -3`` is refused, not "all")."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not a positive count (at least 1)")
    return n


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "traffic", help="play the synthetic listeners against a running playlist service"
    )
    p.add_argument("--url", default="http://127.0.0.1:8000", help="service (default: %(default)s)")
    p.add_argument("--listeners", type=positive_int, default=None, help="how many (default: all)")
    p.add_argument(
        "--workers", type=positive_int, default=4, help="client threads (default: %(default)s)"
    )
    p.add_argument("--out", default=None, help="write the read-out JSON here")
    p.add_argument(
        "--product",
        choices=("playlists", "skips"),
        default="playlists",
        help="which experiment to exercise (default: %(default)s)",
    )
    p.add_argument(
        "--plays",
        type=positive_int,
        default=10,
        help="skips: plays scored per listener (%(default)s)",
    )
    p.set_defaults(func=run_traffic_command)

    q = subparsers.add_parser(
        "ab-live", help="service + synthetic traffic -> metrics/ab_live.json, reports/ab_live/"
    )
    q.add_argument("--listeners", type=positive_int, default=None, help="how many (default: all)")
    q.add_argument(
        "--workers", type=positive_int, default=4, help="client threads (default: %(default)s)"
    )
    q.set_defaults(func=run_ab_live)


def run_traffic_command(args: argparse.Namespace) -> int:
    from ..config import load_params
    from ..io import write_json
    from ..serve.traffic import run_traffic

    if args.product == "skips":
        from ..serve.traffic_skips import run_skips_traffic

        doc = run_skips_traffic(
            args.url,
            load_params(args.params),
            args.listeners or 50,
            os.environ.get("POZYTYWKA_ADMIN_TOKEN"),
            args.workers,
            args.plays,
        )
        log.info("skips: %s", json.dumps({k: doc[k] for k in ("log_loss", "accuracy")}))
        if args.out:
            write_json(args.out, doc)
        return 0
    res = run_traffic(
        args.url,
        load_params(args.params),
        args.listeners,
        os.environ.get("POZYTYWKA_ADMIN_TOKEN"),
        args.workers,
    )
    _log_result(res)
    if args.out:
        write_json(args.out, res.results)
    return 0


def _log_result(res) -> None:
    r = res.results
    log.info(
        "%d listeners, %d requests, %d events in %d batches; lift %s [%s, %s], p %s -> %s",
        res.listeners,
        res.requests,
        res.events_posted,
        res.batches,
        r.get("lift"),
        r.get("ci_low"),
        r.get("ci_high"),
        r.get("p_value"),
        r.get("decision"),
    )


def lift_figure(live: dict, simulated: dict | None, confidence: float):
    """The primary metric's lift with its interval: simulation (``ab.json``) and live."""
    from ..plotting import new_figure

    fig, ax = new_figure(6.0, 2.6)
    rows = [("live (service log)", live)]
    if simulated:
        rows.insert(0, ("simulation (ab_test)", simulated))
    for i, (_label, r) in enumerate(rows):
        if r.get("lift") is None:
            continue
        lo, hi = r["ci_low"], r["ci_high"]
        ax.errorbar([r["lift"]], [i], xerr=[[r["lift"] - lo], [hi - r["lift"]]], fmt="o", capsize=4)
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(f"relative lift of play-through rate, B vs A ({confidence:.0%} CI)")
    ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:+.1%}")
    fig.tight_layout()
    return fig


def summary_md(live: dict, simulated: dict | None, res) -> str:
    from ..experiment.report import holdout_lines

    def line(name: str, r: dict) -> str:
        a, b = r["arms"]["A"], r["arms"]["B"]
        return (
            f"| {name} | {a['users']} / {b['users']} | {a['play_through_rate']} / "
            f"{b['play_through_rate']} | {r['lift']:+.4f} [{r['ci_low']:+.4f}, "
            f"{r['ci_high']:+.4f}] | {r['p_value']:.3g} | {r['srm_p_value']:.3g} |"
        )

    out = [
        "# Live A/B read-out (the service's log)",
        "",
        f"Week of {res.week_start}: {res.listeners} listeners, {res.requests} requests, "
        f"{res.events_posted} events in {res.batches} batches; "
        f"{live['excluded_both_arms']} listeners served both arms left out.",
        "",
        "| read-out | users A / B | play-through A / B | lift [95% CI] | p | SRM p |",
        "|---|---|---|---|---|---|",
    ]
    if simulated and simulated.get("lift") is not None:
        out.append(line("simulation (metrics/ab.json)", simulated))
    if live.get("lift") is not None:
        out.append(line("live (metrics/ab_live.json)", live))
    if live.get("stopped"):
        out += ["", f"Kill switch: {live['stopped']['note']}."]
    out += holdout_lines(live.get("holdout"))
    out += ["", f"Decision from the log: **{live['decision']}**: {live['reason']}", ""]
    return "\n".join(out)


def run_ab_live(args: argparse.Namespace) -> int:
    from ..config import load_params
    from ..io import read_json, save_figure, write_json, write_text
    from ..serve.process import ServiceProcess
    from ..serve.traffic import run_traffic

    params = load_params(args.params)
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="pozytywka-ab-live-") as tmp:
        env = {
            "POZYTYWKA_STORE": f"sqlite:///{Path(tmp) / 'log.sqlite'}",
            "POZYTYWKA_CLOCK": "manual",
            "POZYTYWKA_ADMIN_TOKEN": token,
        }
        log.info("starting the service on a temporary store")
        with ServiceProcess(Path.cwd(), env) as svc:
            res = run_traffic(svc.url, params, args.listeners, token, args.workers)
    _log_result(res)
    live = {k: v for k, v in res.results.items()}
    write_json(AB_LIVE_METRICS, live)
    simulated = read_json(paths.AB_METRICS) if paths.AB_METRICS.exists() else None
    save_figure(AB_LIVE_REPORTS / "lift.png", lift_figure(live, simulated, 1 - params.ab.alpha))
    write_text(AB_LIVE_REPORTS / "summary.md", summary_md(live, simulated, res))
    if live.get("lift") is None:
        raise PozytywkaError("the live read-out has no lift: too few listeners with plays")
    return 0
