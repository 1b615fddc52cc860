#!/usr/bin/env python3
"""The tables of scripts/perf/profile.sh, from the snapshots it took (run, not imported).

usage: profile_report.py OUT_DIR RUN    (RUN: the snapshot pair RUN-a.* / RUN-b.*)

Prints the CPU split over the window between the two snapshots (redis-server, its main
thread, the server, the load generator, MariaDB, everything else, idle), the Redis
commands by time spent (INFO commandstats deltas) and, when OUT_DIR/slowlog.json exists,
the scripts by time spent (a sample of every EVALSHA, mapped to script names through
OUT_DIR/scripts.sha). Writes the same as OUT_DIR/RUN-summary.json.
"""

import json
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def read(path):
    with open(path) as f:
        return f.read()


def proc_cpu_secs(path):
    """utime + stime of /proc/<pid>/stat, in seconds (None when the file is empty)."""
    raw = read(path).strip()
    if not raw:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_ticks(path):
    """(busy, idle) seconds over all cores from the first line of /proc/stat."""
    values = [int(v) for v in read(path).split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / TICK, (idle + iowait) / TICK


def info(path):
    fields = {}
    for line in read(path).splitlines():
        if ":" in line and not line.startswith("#"):
            name, value = line.strip().split(":", 1)
            fields[name] = value
    return fields


def commandstats(path):
    stats = {}
    for name, value in info(path).items():
        if name.startswith("cmdstat_"):
            parts = dict(p.split("=") for p in value.split(","))
            stats[name[len("cmdstat_") :]] = (int(parts["calls"]), int(parts["usec"]))
    return stats


def percentile(sorted_values, p):
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def main():
    out, run = sys.argv[1], sys.argv[2]
    a = lambda name: os.path.join(out, f"{run}-a.{name}")
    b = lambda name: os.path.join(out, f"{run}-b.{name}")
    window = float(read(b("time"))) - float(read(a("time")))
    cores = os.cpu_count()
    summary = {"run": run, "window_secs": round(window, 2), "cores": cores}
    summary["load_average"] = {"a": read(a("loadavg")).split()[:3], "b": read(b("loadavg")).split()[:3]}

    busy_a, idle_a = machine_ticks(a("machine"))
    busy_b, idle_b = machine_ticks(b("machine"))
    busy, idle = busy_b - busy_a, idle_b - idle_a
    rows = []
    named = 0.0
    for proc in ["redis", "server", "load", "mariadb"]:
        before, after = proc_cpu_secs(a(proc)), proc_cpu_secs(b(proc))
        if before is None or after is None:
            continue
        secs = after - before
        named += secs
        rows.append((proc, secs))
    cpu_a, cpu_b = info(a("cpu")), info(b("cpu"))
    main_thread = None
    if "used_cpu_user_main_thread" in cpu_a:
        main_thread = sum(
            float(cpu_b[k]) - float(cpu_a[k])
            for k in ("used_cpu_user_main_thread", "used_cpu_sys_main_thread")
        )
    redis_info = sum(float(cpu_b[k]) - float(cpu_a[k]) for k in ("used_cpu_user", "used_cpu_sys"))
    rows.append(("everything else", busy - named))
    rows.append(("idle", idle))

    print(f"== CPU over {window:.1f} s on {cores} cores "
          f"(load average {' '.join(summary['load_average']['a'])} -> {' '.join(summary['load_average']['b'])})")
    print(f"{'process':<34} {'cpu s':>8} {'cores':>7} {'share':>7}")
    total = busy + idle
    for name, secs in rows:
        print(f"{name:<34} {secs:8.1f} {secs / window:7.2f} {100 * secs / total:6.1f}%")
    print(f"redis INFO cpu: used_cpu_user+sys {redis_info:.1f} s ({redis_info / window:.2f} cores)"
          + (f"; main thread {main_thread:.1f} s ({main_thread / window:.2f} cores)" if main_thread is not None else ""))
    print(f"\nthreads' time over the window (schedstat), in cores: on a CPU / runnable, waiting for one")
    summary["sched"] = {}
    for who in ["redis-main", "redis", "server", "load"]:
        try:
            ra, wa = (int(v) for v in read(a(f"{who}.sched")).split()[:2])
            rb, wb = (int(v) for v in read(b(f"{who}.sched")).split()[:2])
        except (OSError, ValueError):
            continue
        run_c, wait_c = (rb - ra) / 1e9 / window, (wb - wa) / 1e9 / window
        label = "redis-server main thread" if who == "redis-main" else who
        extra = f"; asleep (no work) {max(0.0, 1 - run_c - wait_c):.2f}" if who == "redis-main" else ""
        print(f"  {label:<26} on a CPU {run_c:5.2f}   waiting for a CPU {wait_c:5.2f}{extra}")
        summary["sched"][who] = {"running_cores": round(run_c, 3), "waiting_cores": round(wait_c, 3)}
    summary["cpu"] = {name: {"secs": round(s, 2), "cores": round(s / window, 3)} for name, s in rows}
    summary["redis_info_cpu"] = {"total_cores": round(redis_info / window, 3)}
    if main_thread is not None:
        summary["redis_info_cpu"]["main_thread_cores"] = round(main_thread / window, 3)

    cs_a, cs_b = commandstats(a("commandstats")), commandstats(b("commandstats"))
    deltas = []
    for cmd, (calls_b, usec_b) in cs_b.items():
        calls_a, usec_a = cs_a.get(cmd, (0, 0))
        if calls_b - calls_a > 0:
            deltas.append((cmd, calls_b - calls_a, usec_b - usec_a))
    deltas.sort(key=lambda d: -d[2])
    evalsha = next((d for d in deltas if d[0] == "evalsha"), None)
    print("\n== Redis commands over the window (INFO commandstats deltas). usec is wall time in")
    print("   the command (a preempted Redis counts the wait), and evalsha's includes the")
    print("   commands its scripts call, which are also counted on their own rows below.")
    print(f"{'command':<20} {'calls':>10} {'calls/s':>9} {'usec':>12} {'usec/call':>10}")
    for cmd, calls, usec in deltas[:14]:
        print(f"{cmd:<20} {calls:10d} {calls / window:9.0f} {usec:12d} {usec / calls:10.2f}")
    if evalsha:
        print(f"evalsha wall time: {evalsha[2] / 1e6 / window:.2f} s per s "
              f"(Redis process CPU over the same window: {redis_info / window:.2f} cores)")
    summary["commands"] = [
        {"command": c, "calls": n, "usec": u, "usec_per_call": round(u / n, 2)} for c, n, u in deltas
    ]

    slowlog = os.path.join(out, "slowlog.json")
    if os.path.exists(slowlog):
        names = dict(line.split() for line in read(os.path.join(out, "scripts.sha")).splitlines())
        by_script, others = {}, 0
        for entry in json.loads(read(slowlog)):
            args = entry[3]
            if len(args) > 1 and str(args[0]).lower() == "evalsha":
                name = names.get(args[1], "unknown " + args[1][:8])
                by_script.setdefault(name, []).append(int(entry[2]))
            else:
                others += 1
        sampled_calls = sum(len(v) for v in by_script.values())
        rate = evalsha[1] / window if evalsha else 0
        print(f"\n== per script: SLOWLOG sample of every EVALSHA ({sampled_calls} calls; "
              f"{others} other entries, mostly the scripts' own redis.call commands, left out).")
        print("   calls/s: the script's share of the sample times run 1's evalsha calls/s;")
        print("   cores: calls/s x p50, the Redis time the script needs at that rate.")
        print(f"{'script':<22} {'calls':>7} {'calls/s':>8} {'mean us':>8} {'p50 us':>7} {'p90 us':>7} {'p99 us':>7} {'cores':>6}")
        summary["scripts"] = []
        total_cores = 0.0
        for name, times in sorted(by_script.items(), key=lambda kv: -len(kv[1]) * sorted(kv[1])[len(kv[1]) // 2]):
            times.sort()
            mean = sum(times) / len(times)
            per_sec = rate * len(times) / sampled_calls
            p50 = percentile(times, 50)
            cores_needed = per_sec * p50 / 1e6
            total_cores += cores_needed
            print(f"{name:<22} {len(times):7d} {per_sec:8.0f} {mean:8.2f} {p50:7d} "
                  f"{percentile(times, 90):7d} {percentile(times, 99):7d} {cores_needed:6.2f}")
            summary["scripts"].append({
                "script": name, "sampled_calls": len(times), "calls_per_sec": round(per_sec),
                "mean_usec": round(mean, 2), "p50_usec": p50, "p90_usec": percentile(times, 90),
                "p99_usec": percentile(times, 99), "cores_at_p50": round(cores_needed, 3),
            })
        print(f"{'all scripts':<22} {'':>7} {rate:8.0f} {'':>8} {'':>7} {'':>7} {'':>7} {total_cores:6.2f}")

    with open(os.path.join(out, f"{run}-summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
