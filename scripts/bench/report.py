#!/usr/bin/python3
"""Turn bench.sh's raw per-run figures into the results table.

usage: report.py RAW.tsv SCENARIOS.tsv [SYSCALLS.tsv]

RAW.tsv lines:        scenario <TAB> metric <TAB> target <TAB> round <TAB> value|FAIL
SCENARIOS.tsv lines:  scenario <TAB> description
SYSCALLS.tsv lines:   scenario <TAB> target <TAB> syscall <TAB> calls_per_tx

Prints the median over rounds of each (scenario, metric, target), with the
ratios sluice/pgbouncer and sluice/direct, then the paired ratios: for TPS and
CPU per transaction, sluice/pgbouncer within each round (the two ran minutes
apart at most), their median and range, which shows how much of a ratio is
the machine's noise.  FAIL in any round is shown as
FAIL when no round succeeded, otherwise as the median of the rounds that did
with a '!' mark.
"""
import statistics
import sys
from collections import OrderedDict, defaultdict

TARGETS = ("direct", "sluice", "pgbouncer")
METRICS = OrderedDict([
    ("tps", ("TPS", "%.0f")),
    ("lat_avg_ms", ("latency avg ms", "%.3f")),
    ("lat_p99_ms", ("latency p99 ms", "%.3f")),
    ("lat_added_avg_us", ("added avg latency us (vs direct)", "%.1f")),
    ("cpu_us_per_tx", ("pooler CPU us/tx", "%.1f")),
    ("syscalls_per_tx", ("pooler syscalls/tx", "%.2f")),
    ("rss_bytes_per_client", ("RSS bytes/idle client", "%.0f")),
    ("idle_clients", ("idle clients logged in", "%.0f")),
    ("ir_per_tx", ("user-space instructions/tx", "%.0f")),
])


def main():
    raw = defaultdict(list)            # (scen, metric, target) -> [values or None]
    by_round = {}                      # (scen, metric, target, round) -> value
    for line in open(sys.argv[1]):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 5:
            continue
        scen, metric, target, rnd, value = parts
        raw[(scen, metric, target)].append(None if value == "FAIL" else float(value))
        if value != "FAIL":
            by_round[(scen, metric, target, rnd)] = float(value)
    scenarios = OrderedDict()
    for line in open(sys.argv[2]):
        parts = line.rstrip("\n").split("\t")
        if len(parts) == 2:
            scenarios[parts[0]] = parts[1]

    med = {}
    partial = set()
    for key, vals in raw.items():
        ok = [v for v in vals if v is not None]
        if ok:
            med[key] = statistics.median(ok)
            if len(ok) < len(vals):
                partial.add(key)
        else:
            med[key] = None

    # Latency the pooler adds over a direct connection (S2 is the one that matters).
    for scen in scenarios:
        d = med.get((scen, "lat_avg_ms", "direct"))
        if d is None:
            continue
        for t in ("sluice", "pgbouncer"):
            v = med.get((scen, "lat_avg_ms", t))
            if v is not None and scen == "S2":
                med[(scen, "lat_added_avg_us", t)] = (v - d) * 1000.0

    def cell(scen, metric, target):
        key = (scen, metric, target)
        if key not in med:
            return "-"
        v = med[key]
        if v is None:
            return "FAIL"
        s = METRICS[metric][1] % v
        return s + ("!" if key in partial else "")

    def ratio(scen, metric, a, b):
        x, y = med.get((scen, metric, a)), med.get((scen, metric, b))
        if x is None or y is None:
            return "-"
        if y == 0:
            return "-"
        return "%.2f" % (x / y)

    rows = [("scenario", "metric", "direct", "sluice", "pgbouncer", "sluice/pgb", "sluice/direct")]
    for scen, desc in scenarios.items():
        first = True
        for metric in METRICS:
            if not any((scen, metric, t) in med for t in TARGETS):
                continue
            label = "%s %s" % (scen, desc) if first else ""
            first = False
            rows.append((label, METRICS[metric][0],
                         cell(scen, metric, "direct"), cell(scen, metric, "sluice"),
                         cell(scen, metric, "pgbouncer"),
                         ratio(scen, metric, "sluice", "pgbouncer"),
                         ratio(scen, metric, "sluice", "direct")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for i, r in enumerate(rows):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        cells += [r[j].rjust(widths[j]) for j in range(2, len(r))]
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    print("\n".join(out))
    if partial:
        print("\n'!' = median of the rounds that succeeded; at least one round failed.")

    print_paired(scenarios, by_round)

    if len(sys.argv) > 3:
        calls = defaultdict(list)
        for line in open(sys.argv[3]):
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4:
                calls[(parts[0], parts[1])].append((parts[2], float(parts[3])))
        if calls:
            print("\nSyscalls per transaction by call (strace -c -f -p, top 8):")
            for (scen, target), lst in calls.items():
                lst.sort(key=lambda x: -x[1])
                print("  %-3s %-9s %s" % (scen, target,
                      "  ".join("%s %.2f" % (n, v) for n, v in lst[:8])))


def print_paired(scenarios, by_round):
    """sluice/pgbouncer per round for TPS and CPU/tx: median [min-max] of n rounds."""
    lines = []
    for scen in scenarios:
        cells = []
        for metric, label in (("tps", "TPS"), ("cpu_us_per_tx", "CPU/tx")):
            ratios = []
            for (s, m, t, rnd), v in by_round.items():
                if (s, m, t) != (scen, metric, "sluice"):
                    continue
                p = by_round.get((scen, metric, "pgbouncer", rnd))
                if p:
                    ratios.append(v / p)
            if ratios:
                ratios.sort()
                cells.append("%-6s %.2f [%.2f-%.2f] of %d" % (
                    label, statistics.median(ratios), ratios[0], ratios[-1], len(ratios)))
        if cells:
            lines.append("  %-3s %s" % (scen, "   ".join(cells)))
    if lines:
        print("\nsluice/PgBouncer paired within each round: median [min-max] of n rounds:")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
