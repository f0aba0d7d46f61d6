"""The scoreboard for people: a Markdown page and one plot (see :mod:`.collect`)."""

from __future__ import annotations

from pathlib import Path

from ..io import save_figure
from ..markdown import table
from ..plotting import message_figure, new_figure

VERDICT_WORDS = {
    "model better": "**model better**",
    "baseline better": "baseline better",
    "no signal": "no signal",
    "not run": "not run",
    "not comparable": "not comparable",
}


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def _ci(lo: float | None, hi: float | None) -> str:
    return "" if lo is None else f" [{lo:.4f}, {hi:.4f}]"


def _diff(p: dict) -> str:
    if p.get("diff") is None:
        return "—"
    return f"{p['diff']:+.4f}" + (
        ""
        if p.get("diff_ci_low") is None
        else f" [{p['diff_ci_low']:+.4f}, {p['diff_ci_high']:+.4f}]"
    )


def runs_table(doc: dict) -> str:
    """One row per dump run: how it went, its size, time and memory."""
    rows = []
    for d in doc["dumps"]:
        status = "ran end to end" if d["rc"] == 0 else f"stopped: {d['error']}"
        rows.append(
            [
                d["dump"],
                d.get("complete_weeks") if d.get("complete_weeks") is not None else "—",
                f"{d['events']:,}" if d.get("events") else "—",
                f"{d['seconds'] / 60:.1f}",
                f"{d['peak_gib']:.2f}",
                status,
            ]
        )
    return table(
        ["dump", "complete weeks", "events kept", "minutes", "peak GiB", "dvc repro"],
        rows,
        "lrrrrl",
    )


def verdict_table(doc: dict) -> str:
    """Per dump and product: best model vs strongest baseline, difference, weeks, verdict."""
    rows = []
    for d in doc["dumps"]:
        for product, p in sorted(d["products"].items()):
            if p.get("verdict") in ("not run", "not comparable"):
                rows.append([d["dump"], product, p["metric"], "—", "—", "—", "—", p["verdict"]])
                continue
            by = {r["name"]: r for r in p["rows"]}
            m, b = by[p["best_model"]], by[p["best_baseline"]]
            rows.append(
                [
                    d["dump"],
                    product,
                    p["metric"],
                    f"{m['name']} {_num(m['mean'])}{_ci(m['ci_low'], m['ci_high'])}",
                    f"{b['name']} {_num(b['mean'])}{_ci(b['ci_low'], b['ci_high'])}",
                    _diff(p),
                    f"{p['weeks_model_better']}/{p['weeks']}",
                    VERDICT_WORDS.get(p["verdict"], p["verdict"])
                    + (" (at chance)" if p.get("at_chance") else ""),
                ]
            )
    return table(
        [
            "dump",
            "product",
            "metric",
            "best model [95% CI]",
            "strongest baseline [95% CI]",
            "difference [95% CI]",
            "weeks better",
            "verdict",
        ],
        rows,
        "llllllrl",
    )


def detail_tables(doc: dict) -> list[str]:
    """Every model and baseline of each product on each dump."""
    out = []
    for d in doc["dumps"]:
        for product, p in sorted(d["products"].items()):
            if not p.get("rows"):
                continue
            rows = [
                [r["name"], r["kind"], _num(r["mean"]) + _ci(r["ci_low"], r["ci_high"])]
                for r in p["rows"]
            ]
            out += [
                f"#### {d['dump']}: {product} ({p['metric']}, {p['weeks']} weeks)",
                "",
                table(["name", "kind", "mean [95% CI]"], rows, "llr"),
                "",
            ]
    return out


def server_cache_lines(doc: dict) -> list[str]:
    """Per dump: the server cache's byte hit ratio per policy (Belady is the optimum)."""
    out = []
    for d in doc["dumps"]:
        sc = d.get("server_cache")
        if not sc:
            continue
        sizes = sorted({s for v in sc["byte_hit_ratio"].values() for s in v}, key=float)
        rows = [
            [name + (" (recommended)" if name == sc["recommended"] else "")]
            + [_num(v.get(s)) for s in sizes]
            for name, v in sc["byte_hit_ratio"].items()
        ]
        out += [
            f"#### {d['dump']}: server cache, byte hit ratio",
            "",
            table(["policy"] + [f"{float(s):.0%} of catalogue" for s in sizes], rows, "lrrr"),
            "",
        ]
        out += [f"- {line}" for line in sc["skip_awareness"]] + [""]
    return out


def scoreboard_markdown(doc: dict) -> str:
    """The whole page."""
    lines = [
        "# Real-data scoreboard",
        "",
        "Each dump (and, unless `--no-dirt`, a dirty copy of it, `+dirt`) run through "
        "`dvc repro` with the default "
        "params in a throwaway copy of the project (`make scoreboard`). Per product, the best "
        "model against the **strongest** baseline of that dump (the best baseline on the "
        "evaluated weeks), the mean paired difference across evaluated weeks with its "
        "95% interval (Student t across the evaluated weeks). *No signal*: the interval "
        "holds 0 (or the model is at chance); the product then serves its best baseline. "
        "For a cost (cache) lower is better: a negative difference is the model better.",
        "",
        "![scoreboard](scoreboard.png)",
        "",
        "## Runs",
        "",
        runs_table(doc),
        "",
        "## Best model vs strongest baseline",
        "",
        verdict_table(doc),
        "",
        "## Every model and baseline",
        "",
    ]
    lines += detail_tables(doc)
    lines += ["## Server cache (Belady: the clairvoyant optimum)", ""] + server_cache_lines(doc)
    return "\n".join(lines).rstrip() + "\n"


def save_plot(doc: dict, path: Path) -> None:
    """Per product, each dump's gain of the best model over the strongest baseline (95% CI);
    right of 0 is always the model better (a cost's sign is turned)."""
    items = [
        (d["dump"], product, p)
        for d in doc["dumps"]
        for product, p in sorted(d["products"].items())
        if p.get("diff") is not None
    ]
    title = "Best model's gain over the strongest baseline (95% CI; right of 0: model better)"
    if not items:
        save_figure(path, message_figure(title, "No dump produced a comparison."))
        return
    products = sorted({p for _, p, _ in items})
    n_rows = sum(len({d for d, pr, _ in items if pr == product}) for product in products)
    fig, axes = new_figure(
        9.0, 1.0 + 0.35 * n_rows + 0.9 * len(products), nrows=len(products), squeeze=False
    )
    colours = {"model better": "#2ca02c", "baseline better": "#d62728"}
    for ax, product in zip(axes[:, 0], products, strict=True):
        mine = [(d, p) for d, pr, p in items if pr == product]
        for y, (_dump, p) in enumerate(mine):
            sign = 1.0 if p.get("higher_is_better", True) else -1.0
            gain = sign * p["diff"]
            lo = p["diff_ci_low"] if p["diff_ci_low"] is not None else p["diff"]
            hi = p["diff_ci_high"] if p["diff_ci_high"] is not None else p["diff"]
            lo, hi = sorted((sign * lo, sign * hi))
            ax.errorbar(
                gain,
                y,
                xerr=[[gain - lo], [hi - gain]],
                fmt="o",
                color=colours.get(p["verdict"], "#7f7f7f"),
            )
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_yticks(range(len(mine)), [d for d, _ in mine])
        ax.set_ylim(-0.6, len(mine) - 0.4)
        ax.tick_params(axis="x", labelbottom=True)
        metric = mine[0][1]["metric"]
        lower = (
            "" if mine[0][1].get("higher_is_better", True) else " (lower is better: sign turned)"
        )
        ax.set_title(f"{product}: {metric}{lower}", fontsize=9)
    fig.suptitle(
        title + "\ngreen: model better, red: baseline better, grey: no signal", fontsize=10
    )
    height = fig.get_size_inches()[1]
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.7 / height))  # room for the two-line title
    save_figure(path, fig)
