"""Figures of the README, drawn from the benchmark JSON under benchmarks/results (never typed in).

    python benchmarks/figures.py            # (re)draw every figure
    python benchmarks/figures.py --check    # exit 1 if a figure is missing or older than its JSON

Each figure names the JSON it comes from; :data:`FIGURES` maps a PNG to (JSON, drawing function).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "results"


def cv_sweep(data: dict, out: Path) -> None:
    """Average delay against connected-vehicle penetration (``signals bench adaptive``): our
    actuated control on detectors + CV, mean and min-max over the evaluation seeds, and on CV
    alone (first seed), beside the flat references (SUMO actuated, Webster, detectors alone)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ctl = data["controllers"]
    sweep = data["penetration_sweep_delay_s"]
    ps = sorted(sweep, key=float)
    first = data["seeds"][0]

    def key(p: str) -> str:
        return "actuated_det" if p == "0" else f"actuated_det_cv@{p}"

    def on(c: str, seed: int) -> float | None:
        return next((r["avg_delay_s"] for r in ctl[c]["per_seed"] if r["seed"] == seed), None)

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    x = [float(p) for p in ps]
    ax.plot(x, [on(key(p), first) for p in ps], marker="o", label=f"detectors + CV, seed {first}")
    every = [p for p in ps if len(ctl[key(p)]["per_seed"]) == len(data["seeds"])]
    if every:
        o = [ctl[key(p)]["over_seeds"]["avg_delay_s"] for p in every]
        ax.errorbar(
            [float(p) for p in every],
            [v["mean"] for v in o],
            yerr=[[v["mean"] - v["min"] for v in o], [v["max"] - v["mean"] for v in o]],
            fmt="D",
            capsize=3,
            label="detectors + CV, mean (min-max) over every seed",
        )
    cv = [p for p in ps if f"actuated_cv@{p}" in ctl]
    if cv:
        ax.plot(
            [float(p) for p in cv],
            [on(f"actuated_cv@{p}", first) for p in cv],
            marker="s",
            color="tab:purple",
            label=f"CV only, seed {first}",
        )
    for name, label, style in (
        ("sumo_actuated", "SUMO actuated (mean)", "--"),
        ("webster", "Webster fixed time (mean)", ":"),
    ):
        ax.axhline(ctl[name]["over_seeds"]["avg_delay_s"]["mean"], ls=style, color="grey")
        ax.annotate(
            label,
            (max(x), ctl[name]["over_seeds"]["avg_delay_s"]["mean"]),
            ha="right",
            va="bottom",
            fontsize=8,
            color="dimgrey",
        )
    top = max(ctl[n]["over_seeds"]["avg_delay_s"]["mean"] for n in ("sumo_actuated", "webster"))
    ax.set_ylim(top=top * 1.15)  # room for the legend above the references
    ax.set_xlabel("connected-vehicle penetration (%)")
    ax.set_ylabel("average delay (s)")
    seeds = ", ".join(map(str, data["seeds"]))
    hours = float(data["horizon_s"]) / 3600.0
    ax.set_title(f"Pilot zone, AM peak, {hours:g} h SUMO micro (seeds {seeds})", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


FIGURES: dict[str, tuple[str, Callable[[dict, Path], None]]] = {
    "adaptive-cv-sweep.png": ("adaptive.json", cv_sweep),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only check the figures are up to date")
    p.add_argument("--root", default=str(ROOT), help="results folder")
    args = p.parse_args(argv)
    root = Path(args.root)
    stale = []
    for png, (src, draw) in FIGURES.items():
        out, js = root / png, root / src
        if args.check:
            if not out.is_file() or out.stat().st_mtime < js.stat().st_mtime:
                stale.append(png)
            continue
        draw(json.loads(js.read_text()), out)
        print(f"drew {out} from {js.name}")
    if stale:
        print("stale figures (run python benchmarks/figures.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
