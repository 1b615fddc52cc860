"""The soak's chart and summary (scripts/perf/soak.sh): reads OUT/samples.csv (resident
memory of the server and the flush worker, Redis's used_memory, every --every seconds) and
OUT/lag.csv (the outbox lag, every second), writes OUT/soak.png and prints the figures:
resident memory over the first five minutes against the last five (goal: within 10%), and
the lag's maximum and 99th percentile (goal: under 1 s).

usage: python soak_report.py OUT
"""

import csv
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WINDOW_S = 300.0  # "the first five minutes" and "the last five"
RSS_GOAL = 0.10
LAG_GOAL_S = 1.0


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def number(row, field):
    value = row.get(field, "")
    return float(value) if value not in ("", None) else None


def percentile(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def main(out):
    out = Path(out)
    samples = read(out / "samples.csv")
    lags = read(out / "lag.csv")
    if len(samples) < 2 or not lags:
        sys.exit("too few samples for a summary")
    t = [number(r, "elapsed_s") for r in samples]
    end = t[-1]
    # A short run (--minutes 2) has no two disjoint five-minute windows: a third each.
    window = min(WINDOW_S, end / 3)
    first = [r for r, s in zip(samples, t) if s < window]
    last = [r for r, s in zip(samples, t) if s >= end - window]

    lines = [
        f"samples: {len(samples)} of memory over {end / 60:.1f} min, {len(lags)} of the lag",
        f"windows compared: the first {window:.0f} s and the last {window:.0f} s (means)",
    ]
    verdicts = []
    for label, field in [
        ("server RSS", "server_rss_kb"),
        ("flush worker RSS", "flush_rss_kb"),
        ("Redis used_memory", "redis_used_memory_bytes"),
    ]:
        scale = 1024 if field.endswith("_kb") else 1
        a = mean([number(r, field) * scale for r in first]) / 2**20
        b = mean([number(r, field) * scale for r in last]) / 2**20
        peak = max(number(r, field) * scale for r in samples) / 2**20
        change = (b - a) / a
        line = f"{label}: {a:.1f} MiB -> {b:.1f} MiB ({change:+.1%}), peak {peak:.1f} MiB"
        if field.endswith("_kb"):
            ok = abs(change) <= RSS_GOAL
            verdicts.append(ok)
            line += f"  [{'met' if ok else 'NOT met'}: flat within {RSS_GOAL:.0%}]"
        lines.append(line)

    lag_values = [v for v in (number(r, "lag_s") for r in lags) if v is not None]
    missing = len(lags) - len(lag_values)
    entries = [v for v in (number(r, "lag_entries") for r in lags) if v is not None]
    if lag_values:
        worst = max(lag_values)
        p99 = percentile(lag_values, 99)
        ok = worst < LAG_GOAL_S and p99 < LAG_GOAL_S
        verdicts.append(ok)
        lines.append(
            f"outbox lag: max {worst:.3f} s, p99 {p99:.3f} s, p50 "
            f"{percentile(lag_values, 50):.3f} s; entries max {max(entries):.0f}"
            f"  [{'met' if ok else 'NOT met'}: under {LAG_GOAL_S:.0f} s]"
        )
    if missing:
        lines.append(f"lag samples without an answer from /health: {missing}")
    answers = answer_kinds(out / "load.json")
    if answers is not None:
        lines.extend(answers[0])
        verdicts.append(answers[1])
    lines.append("goals: " + ("all met" if all(verdicts) else "NOT all met"))
    print("\n".join(lines))
    chart(out, samples, lags, window)


# What each 4xx means in the soak: a buyer's life (expected), or something to look into.
KINDS = {
    ("GET /api/schedules/{id}/seats", 403): "token no longer ACTIVE: the buyer joins again",
    ("POST /api/reservations", 409): "seat taken first or hold limit",
    ("POST /api/payments", 402): "wallet empty: topped up, paid again",
}


def answer_kinds(path):
    """Lines on the 4xx by kind and the 5xx, and whether there was no 5xx or no answer."""
    if not path.exists():
        return None
    load = json.loads(path.read_text())
    total = load["total"]["requests"]
    lines = [f"answers of {total:,} requests:"]
    bad = 0
    for row in load["endpoints"]:
        for status, count in row["statuses"]:
            if status == 0 or status >= 500:
                bad += count
            if 400 <= status < 500:
                kind = KINDS.get((row["endpoint"], status), "unexpected")
                lines.append(
                    f"  4xx: {row['endpoint']} {status} x{count:,} "
                    f"({count / total:.4%} of requests): {kind}"
                )
    ok = bad == 0
    lines.append(f"  5xx or no answer: {bad}  [{'met' if ok else 'NOT met'}: none]")
    return lines, ok


def chart(out, samples, lags, window):
    minutes = [number(r, "elapsed_s") / 60 for r in samples]
    has_load = all(number(r, "load1") is not None for r in samples if "load1" in r) and (
        "load1" in samples[0]
    )
    rows = 4 if has_load else 3
    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.7 * rows), sharex=True)
    ax_rss, ax_redis, ax_lag = axes[:3]
    ax_rss.plot(minutes, [number(r, "server_rss_kb") / 1024 for r in samples], label="server")
    ax_rss.plot(minutes, [number(r, "flush_rss_kb") / 1024 for r in samples], label="flush worker")
    ax_rss.set_ylabel("resident memory (MiB)")
    ax_rss.set_ylim(bottom=0)
    ax_rss.legend(loc="lower right")
    end = minutes[-1]
    for ax in (ax_rss, ax_redis):
        ax.axvspan(0, window / 60, color="0.92", zorder=0)
        ax.axvspan(end - window / 60, end, color="0.92", zorder=0)
    ax_redis.plot(
        minutes,
        [number(r, "redis_used_memory_bytes") / 2**20 for r in samples],
        color="tab:red",
    )
    ax_redis.set_ylabel("Redis used_memory (MiB)")
    ax_redis.set_ylim(bottom=0)
    lag_points = [(number(r, "elapsed_s") / 60, number(r, "lag_s")) for r in lags]
    lag_points = [(m, v) for m, v in lag_points if v is not None]
    ax_lag.plot([m for m, _ in lag_points], [v for _, v in lag_points], color="tab:green", lw=0.8)
    ax_lag.axhline(LAG_GOAL_S, color="0.5", ls="--", lw=0.8, label="goal: 1 s")
    ax_lag.set_ylabel("outbox lag (s)")
    ax_lag.set_ylim(0, max([LAG_GOAL_S * 1.1] + [v * 1.05 for _, v in lag_points]))
    ax_lag.legend(loc="upper right")
    if has_load:
        ax_load = axes[3]
        ax_load.plot(minutes, [number(r, "load1") for r in samples], color="tab:purple")
        ax_load.axhline(2, color="0.5", ls="--", lw=0.8, label="2 cores")
        ax_load.set_ylabel("load average (1 min)")
        ax_load.set_ylim(bottom=0)
        ax_load.legend(loc="upper right")
    axes[-1].set_xlabel("minutes into the soak (shaded: the windows compared)")
    for ax in axes:
        ax.grid(True, color="0.85", lw=0.5)
    fig.suptitle("concert-queue soak: the seed mix played by buyers, with bookings")
    fig.tight_layout()
    fig.savefig(out / "soak.png", dpi=80)


if __name__ == "__main__":
    main(sys.argv[1])
