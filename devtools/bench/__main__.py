"""`python -m devtools.bench [timing] [coldstart] [scaling] [memory] [calls] [--write]`: run benchmarks, print
their tables, and with --write put them into BENCHMARKS.md (between its `bench:<name>` markers) and
the plots into docs/benchmarks/. `make bench` runs timing and coldstart (a few minutes);
`make bench-scaling` the local cloud at 1,000 and 10,000 tasks (about eight minutes); `memory` the
peak memory of a completing poll at each provider's documented maximum (about a minute); `calls` the
AWS calls and vendor requests per poll and per task, before issue 16's loop change and now (a few
minutes)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings

from devtools.bench.report import machine, write_section
from devtools.cloud.local_values import ROOT

PLOTS = ROOT / "docs" / "benchmarks"


def timing(write: bool, tasks: int) -> None:
    from devtools.bench import timing as sim

    where = machine()
    started = time.monotonic()
    results = sim.simulate(tasks)
    vendors = sim.simulate_vendors(tasks)
    clips = sim.simulate_short_clips(tasks)
    elapsed = time.monotonic() - started
    # Lambda duration of a poll: the median measured by the warm benchmark, if it ran, else 100 ms.
    duration_s = 0.1
    raw = PLOTS / "coldstart.json"
    if raw.exists():
        duration_s = float(json.loads(raw.read_text()).get("warm_wall_median_s", duration_s))
    body = (
        f"{tasks:,} simulated tasks, seed 2026, computed {where} in {elapsed:.0f} s (with the two tables below). Cost:"
        f" the polls of a million tasks at {duration_s * 1000:.0f} ms of 1024 MB Lambda per poll (the warm benchmark's"
        " median duration), Scheduler $1.00 per million invocations, Lambda $0.20 per million requests and"
        " $0.0000166667 per GB-second, Step Functions Standard $0.025 per 1,000 transitions (Wait, Task, Choice"
        " per poll); the segment and the result are the same for every policy and not counted.\n\n"
        + sim.table(results, duration_s)
        + "\n\n![polls against p95 detection lag](docs/benchmarks/timing.png)"
    )
    met = [row for row in vendors if row.met is not None]
    vendor_body = (
        f"{tasks:,} simulated tasks per workload, computed {where}; pollbridge at its defaults (lag budget 60 s),"
        f" against fixed 60 s polling on the same tasks and firings. Targets met: {sum(bool(r.met) for r in met)}"
        f" of {len(met)}.\n\n"
        + sim.vendor_table(vendors, duration_s)
        + "\n\n![pollbridge against fixed 60 s, per vendor](docs/benchmarks/timing-vendors.png)"
    )
    clip_body = (
        f"{tasks:,} simulated short clips, computed {where}; cost at the same prices, a precise hop as three SQS"
        " requests ($0.40 per million) instead of a Scheduler invocation.\n\n" + sim.short_clip_table(clips, duration_s)
    )
    print(body, vendor_body, clip_body, sep="\n\n")
    if write:
        plot_timing(results, where)
        plot_vendors(vendors, where)
        write_section("timing", body)
        write_section("timing-vendors", vendor_body)
        write_section("timing-short", clip_body)


def plot_vendors(rows: list, where: str) -> None:  # type: ignore[type-arg]
    """pollbridge against fixed 60 s per vendor: polls (left) and p95 lag (right, log scale), with the
    previous poll's hints, without them, issue 9's policy, and each row's target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from devtools.bench.timing import ISSUE_9

    shown = [r for r in rows if r.workload == "main" and (r.target is not None or r.without_memory is not None)]
    figure, (polls, lags) = plt.subplots(1, 2, figsize=(11, 5), sharey=True)
    ys = range(len(shown))
    for y, row in zip(ys, shown, strict=True):
        plain, earlier = row.without_memory, ISSUE_9.get(row.vendor, (None, None))
        for axes, ours, without, before, target in (
            (polls, row.polls_ratio, plain and plain.polls_mean / row.fixed.polls_mean, earlier[0],
             row.target and row.target[0]),
            (lags, row.lag_ratio, plain and plain.lag_p95 / row.fixed.lag_p95, earlier[1],
             row.target and row.target[1]),
        ):  # fmt: skip
            if before is not None:
                axes.scatter(before, y, marker="s", color="tab:red", s=30, zorder=3)
            if without:
                axes.scatter(without, y, marker="x", color="tab:gray", s=35, zorder=3)
            axes.scatter(ours, y, marker="o", color="tab:blue", s=45, zorder=4)
            if target:
                axes.plot([target, target], [y - 0.35, y + 0.35], color="tab:green", linewidth=2, zorder=2)
    polls.set_yticks(list(ys), [row.vendor for row in shown], fontsize=8)
    polls.invert_yaxis()
    polls.set_xlim(0, 1)
    polls.set_xlabel("polls per task, vs fixed 60 s")
    lags.set_xscale("log")
    lags.set_xticks([1, 1.5, 2, 5, 10, 20], ["1x", "1.5x", "2x", "5x", "10x", "20x"])
    lags.set_xlabel("p95 detection lag, vs fixed 60 s (log scale)")
    lags.axvline(1.0, color="gray", linewidth=0.8)
    for axes in (polls, lags):
        axes.grid(True, which="both", alpha=0.3)
    figure.suptitle(
        "Per vendor: o pollbridge, x without the previous poll's hints, \u25a0 issue 9's policy, | the target",
        fontsize=10,
    )
    figure.text(0.01, 0.005, f"devtools.bench.timing, {where}", fontsize=6)
    PLOTS.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOTS / "timing-vendors.png", dpi=110, bbox_inches="tight")


def plot_timing(results: list, where: str) -> None:  # type: ignore[type-arg]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 6.5))
    markers = {"no hints": "o", "ETA +-10%": "^"}
    seen: dict[tuple[float, float], str] = {}
    curve = []
    for result in results:
        point = (round(result.polls_mean, 2), round(result.p95(result.lags_s), 1))
        if point in seen:  # the same policy whatever the vendor says (or a budget the ETA overrides)
            continue
        seen[point] = result.name
        color = "tab:blue" if result.name.startswith("pollbridge,") else "tab:gray"
        color = "tab:green" if result.name.startswith("floor") else "tab:red" if "before" in result.name else color
        if result.name.startswith("pollbridge, lag budget") and result.vendor == "no hints":
            curve.append(point)
        axes.scatter(*point, marker=markers[result.vendor], color=color, s=40, zorder=3)
        same = any(r.name == result.name and r.vendor != result.vendor and
                   (round(r.polls_mean, 2), round(r.p95(r.lags_s), 1)) == point for r in results)  # fmt: skip
        vendor = "either vendor" if same else result.vendor
        label = result.name.replace("pollbridge, ", "").replace(" (minute rounding, x1.5 to 900 s)", "")
        label = "pollbridge " + label if result.name.startswith("pollbridge,") else label
        if not any(f"budget {b} s" in result.name for b in (65, 75)):  # on the curve, between 60 and 90
            below = result.name.startswith("fixed 60")  # it sits right beside pollbridge's default
            offset = (5, -10) if below else (5, 3)
            axes.annotate(f"{label[:60]} [{vendor}]", point, fontsize=6.5, xytext=offset, textcoords="offset points")
    if curve:
        axes.plot(*zip(*sorted(curve), strict=True), color="tab:blue", alpha=0.4, zorder=2)
    axes.set_xscale("log")
    axes.set_xlabel("polls per task (mean, log scale)")
    axes.set_ylabel("detection lag p95 (s)")
    axes.set_title("Polls against detection lag (o: no hints, ^: vendor ETA +-10%; blue: pollbridge)", fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    figure.text(0.01, 0.01, f"devtools.bench.timing, {where}", fontsize=6)
    PLOTS.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOTS / "timing.png", dpi=110, bbox_inches="tight")


def coldstart(write: bool, rounds: int) -> None:
    from devtools.bench import coldstart as bench

    where = machine()
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        text, raw = bench.measure(rounds, machine=where)
    print(text)
    if write:
        PLOTS.mkdir(parents=True, exist_ok=True)
        (PLOTS / "coldstart.json").write_text(json.dumps(raw, indent=1) + "\n")
        write_section("coldstart", text)


def scaling(write: bool, sizes: list[int]) -> None:
    from devtools.cloud.local_cloud import LocalCloud
    from devtools.load.workload import make_tasks, run_workload
    from devtools.standins.vendor_simulator import SimConfig

    rows = [
        "| tasks | invocations | virtual time | wall time | invocations / s | polls per task | lag mean / p95"
        " | healthy | measured |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    walls = {}
    log = ROOT / ".localcloud" / "bench-scaling.log"
    log.parent.mkdir(exist_ok=True)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    # One log for every size: the handlers' logger keeps the stream it first wrote to.
    with log.open("w") as out:
        for size in sizes:
            where = machine()
            with contextlib.redirect_stdout(out):
                sim = SimConfig(seed=7, failure_rate=0.1, flaky_rate=0.05)
                with LocalCloud(
                    speed=600, sim_config=sim, duplicate_rate=0.1, emulator_seed=7, moto="in-process"
                ) as cloud:
                    report = run_workload(cloud, make_tasks(size, arrival_window_ms=60 * 60_000))
            walls[size] = report.wall_s
            rows.append(
                f"| {size:,} | {report.invocations:,} | {report.virtual_s / 60:.0f} min | {report.wall_s:.0f} s"
                f" | {report.invocations / report.wall_s:.1f} | {report.polls_mean:.2f} | {report.lag_mean_s:.0f} s /"
                f" {report.lag_p95_s:.0f} s | {'yes' if report.healthy else 'NO'} | {where} |"
            )
            print(rows[-1], flush=True)
    body = "\n".join(rows)
    if len(walls) == 2:
        small, large = sorted(walls)
        body += (
            f"\n\n{large:,} tasks took **{walls[large] / walls[small]:.1f}x** the wall time of {small:,}"
            f" ({large // small}x the tasks); {large:,} tasks took {walls[large] / 60:.1f} minutes."
        )
    print(body)
    if write:
        write_section("scaling", body)


def memory(write: bool) -> None:
    from devtools.bench import memory as bench

    text = bench.measure(machine=machine())
    print(text)
    if write:
        write_section("memory", text)


def calls(write: bool) -> None:
    from devtools.bench import calls as bench

    text = bench.measure(machine=machine())
    print(text)
    if write:
        write_section("calls", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "which",
        nargs="*",
        default=["timing", "coldstart"],
        choices=["timing", "coldstart", "scaling", "memory", "calls"],
    )
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md and docs/benchmarks/")
    parser.add_argument("--tasks", type=int, default=20_000, help="simulated tasks (timing)")
    parser.add_argument("--rounds", type=int, default=11, help="interleaved rounds (coldstart)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000], help="task counts (scaling)")
    args = parser.parse_args(argv)
    if "coldstart" in args.which:  # first: the timing table prices polls at its measured duration
        coldstart(args.write, args.rounds)
    if "timing" in args.which:
        timing(args.write, args.tasks)
    if "scaling" in args.which:
        scaling(args.write, args.sizes)
    if "memory" in args.which:
        memory(args.write)
    if "calls" in args.which:
        calls(args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
