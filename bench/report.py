"""Turn timings into ratios, judge them against the targets, write them out.

Everything here is a pure function of numbers, so that the verdict can be
tested without a database (tests/bench/test_report.py).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from .peers import (
    DJANGO_PEER,
    GLUED,
    LABELS,
    ONE_ROUND_TRIP,
    OURS,
    PEER_SESSION,
    PEER_TRANSACTION,
    PLAIN,
    PREPARED,
    RAW,
)

# The targets (issue 23), medians of one run.
READ_SERVICES = ("get_tasks", "get_task", "count_tasks")
ONE_TRIP_WRITES = ("update_task", "toggle_complete", "delete_task")
TASK_SERVICES = (*READ_SERVICES, "create_task", *ONE_TRIP_WRITES)
WITHIN_PLAIN = 1.10  # reads and create_task: ours / plain Django at most this
PEER_TIMES = 2.0  # at 1 ms: the Django SET/RESET peer / ours at least this
PEER_RTT_MS = 1.0
SEED_TARGET = 0.5  # seeding rows/s at least half of raw COPY's
DELETE_USER_TARGET = 1.5  # delete_user at most this times a raw DELETE
SCALING_TARGET = 1.5  # list latency at the largest size vs the smallest
SCALING_FROM, SCALING_TO = 10_000, 1_000_000
JUDGED_ROWS = 1_000_000  # the issue judges at 1,000 users x 1,000 tasks


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]


def statement_kind(sql: str) -> str:
    """Return "set_config" for the scope's statement, else the SQL's verb."""
    if sql.startswith("SELECT set_config("):
        return "set_config"
    return sql.split(None, 1)[0].upper() if sql.strip() else ""


def summarize(
    name: str,
    samples: dict[str, list[float]],
    round_trips: dict[str, int],
    statements: dict[str, list[str]],
) -> dict:
    """Return one operation's medians, p99s, round trips and ratios."""
    medians = {side: statistics.median(v) for side, v in samples.items()}
    one_trip = [side for side in ONE_ROUND_TRIP if side in medians] or [RAW]
    limit = min(one_trip, key=medians.__getitem__)
    ours = medians[OURS]

    def ratio(top: float | None, bottom: float | None) -> float | None:
        return None if top is None or bottom is None else round(top / bottom, 2)

    return {
        "operation": name,
        "calls": len(samples[OURS]),
        "median_us": {side: round(v, 1) for side, v in medians.items()},
        "p99_us": {side: round(percentile(v, 99), 1) for side, v in samples.items()},
        "round_trips": round_trips,
        "statements": {
            side: [statement_kind(sql) for sql in sqls]
            for side, sqls in statements.items()
        },
        "raw_limit_side": limit,
        "ours_plain": ratio(ours, medians.get(PLAIN)),
        "peer_ours": ratio(medians.get(DJANGO_PEER), ours),
        "ours_raw": ratio(ours, medians[limit]),
        "ours_raw_pipeline": ratio(ours, medians.get(RAW)),
        "raw_peer_session_ours": ratio(medians.get(PEER_SESSION), ours),
        "raw_peer_transaction_ours": ratio(medians.get(PEER_TRANSACTION), ours),
    }


# The verdict --------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One target: met (True), missed (False) or not judged (None)."""

    met: bool | None
    target: str
    detail: str

    def line(self) -> str:
        status = {True: "met", False: "MISSED", None: "not judged"}[self.met]
        return f"{status:<10} {self.target}: {self.detail}"


def _run(report: dict, rtt_ms: float) -> dict | None:
    for run in report["runs"]:
        if run["rtt_ms"] == rtt_ms:
            return {row["operation"]: row for row in run["services"]}
    return None


def _ratio_target(
    report: dict,
    target: str,
    services: tuple[str, ...],
    key: str,
    ok,
    rtts: tuple[float, ...] = (0.0, 1.0),
) -> Verdict:
    """Judge `key` of each of `services` at each of `rtts` by `ok(ratio)`."""
    parts, met = [], True
    for rtt in rtts:
        rows = _run(report, rtt)
        if rows is None:
            return Verdict(None, target, f"no {rtt:g} ms run (--rtt-ms)")
        values = [(name, rows[name][key]) for name in services if name in rows]
        if len(values) < len(services) or any(v is None for _, v in values):
            return Verdict(None, target, f"not measured at {rtt:g} ms")
        met = met and all(ok(value) for _, value in values)
        parts.append(
            f"{rtt:g} ms " + ", ".join(f"{name} {value}x" for name, value in values)
        )
    return Verdict(met, target, "; ".join(parts))


def judge(report: dict) -> list[Verdict]:
    """Return the verdict on every target, one Verdict each."""
    verdicts = [
        _ratio_target(
            report,
            f"reads within {WITHIN_PLAIN:.2f}x of plain Django at 0 and 1 ms",
            READ_SERVICES,
            "ours_plain",
            lambda r: r <= WITHIN_PLAIN,
        ),
        _ratio_target(
            report,
            f"create_task within {WITHIN_PLAIN:.2f}x of plain create() at 0 and 1 ms",
            ("create_task",),
            "ours_plain",
            lambda r: r <= WITHIN_PLAIN,
        ),
        _ratio_target(
            report,
            "update/toggle/delete faster than plain read-then-save/delete "
            "at 0 and 1 ms",
            ONE_TRIP_WRITES,
            "ours_plain",
            lambda r: r < 1.0,
        ),
        _ratio_target(
            report,
            f"at {PEER_RTT_MS:g} ms every service >= {PEER_TIMES}x faster than "
            "the Django SET/RESET peer",
            TASK_SERVICES,
            "peer_ours",
            lambda r: r >= PEER_TIMES,
            rtts=(PEER_RTT_MS,),
        ),
    ]
    load = report["load"]
    verdicts.append(
        Verdict(
            load["ratio"] >= SEED_TARGET,
            f"seeding >= {SEED_TARGET} of raw COPY's rate",
            f"{load['ratio']} ({load['seed_rows_per_s']:,} against "
            f"{load['raw_copy_rows_per_s']:,} rows/s, peak RSS "
            f"{load['seed_peak_rss_mib']} MiB)",
        )
    )
    rtts = sorted(run["rtt_ms"] for run in report["runs"])
    target = f"delete_user <= {DELETE_USER_TARGET}x a raw DELETE"
    rows = _run(report, rtts[0]) if rtts else None
    if rows and "delete_user" in rows:
        ratio = rows["delete_user"]["ours_raw"]
        verdicts.append(
            Verdict(ratio <= DELETE_USER_TARGET, target, f"{ratio}x at {rtts[0]:g} ms")
        )
    else:
        verdicts.append(Verdict(None, target, "not measured"))
    verdicts.append(judge_scaling(report.get("scaling") or []))
    verdicts.append(judge_toggle(report))
    return verdicts


def judge_scaling(sizes: list[dict]) -> Verdict:
    """Judge list latency flat from SCALING_FROM to SCALING_TO rows."""
    target = (
        f"list latency flat from {SCALING_FROM:,} to {SCALING_TO:,} rows "
        f"(largest / smallest <= {SCALING_TARGET}x)"
    )
    if len(sizes) < 2:
        return Verdict(None, target, "not measured")
    largest, smallest = sizes[0], sizes[-1]
    ratio = round(largest["list_median_us"] / smallest["list_median_us"], 2)
    detail = f"{ratio}x from {smallest['rows']:,} to {largest['rows']:,} rows"
    if largest["rows"] < SCALING_TO or smallest["rows"] > 2 * SCALING_FROM:
        return Verdict(None, target, f"{detail}, short of the range")
    return Verdict(ratio <= SCALING_TARGET, target, detail)


def judge_toggle(report: dict) -> Verdict:
    """Judge toggle_complete as one UPDATE, no read, in one round trip."""
    target = "toggle_complete is one UPDATE and no read"
    seen = []
    for run in report["runs"]:
        row = {r["operation"]: r for r in run["services"]}.get("toggle_complete")
        if row is None:
            continue
        kinds = [k for k in row["statements"].get(OURS, []) if k != "set_config"]
        seen.append((kinds, row["round_trips"].get(OURS)))
    if not seen:
        return Verdict(None, target, "not measured")
    kinds, round_trips = seen[0]
    met = all(k == ["UPDATE"] and rt == 1 for k, rt in seen)
    return Verdict(
        met, target, f"{' + '.join(kinds) or 'nothing'} in {round_trips} round trip(s)"
    )


def render_verdict(report: dict) -> list[str]:
    """Return the verdict's lines, or one line saying --quick judges nothing."""
    if report["quick"]:
        return [
            "--quick judges nothing: too few rows and calls for any target. "
            "Run make bench for the verdict."
        ]
    lines = [
        f"Verdict ({report['load']['rows']:,} tasks, {report['calls']:,} calls "
        "per side, medians of one run):"
    ]
    if report["load"]["rows"] < JUDGED_ROWS:
        lines.append(
            f"(the issue judges at {JUDGED_ROWS:,} tasks, 1,000 users x 1,000; "
            "this run is smaller)"
        )
    verdicts = judge(report)
    lines += ["  " + v.line() for v in verdicts]
    met = sum(v.met is True for v in verdicts)
    lines.append(f"{met} of {len(verdicts)} targets met.")
    return lines


# Tables -----------------------------------------------------------------


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value}x"


def ratio_table(services: list[dict]) -> list[str]:
    """Return the short table of one RTT: ratios first, the raw limit last."""
    lines = [
        "| service | ours / plain Django | Django SET/RESET peer / ours | "
        "round trips ours, plain, peer | ours / raw one-trip |",
        "|---|---:|---:|---|---:|",
    ]
    for row in services:
        trips = row["round_trips"]
        counts = ", ".join(str(trips.get(s, "-")) for s in (OURS, PLAIN, DJANGO_PEER))
        lines.append(
            f"| {row['operation']} | {_x(row['ours_plain'])} | "
            f"{_x(row['peer_ours'])} | {counts} | {_x(row['ours_raw'])} |"
        )
    return lines


def side_table(services: list[dict]) -> list[str]:
    """Return every side's median, p99 and round trips for one RTT."""
    sides = [OURS, PLAIN, DJANGO_PEER, PREPARED, GLUED, RAW, PEER_SESSION]
    sides.append(PEER_TRANSACTION)
    lines = [
        "| operation | " + " | ".join(LABELS[s] for s in sides) + " |",
        "|---|" + "---:|" * len(sides),
    ]
    for row in services:
        cells = []
        for side in sides:
            if side not in row["median_us"]:
                cells.append("-")
                continue
            cells.append(
                f"{row['median_us'][side]:,} / {row['p99_us'][side]:,} "
                f"({row['round_trips'].get(side, '?')} RT)"
            )
        lines.append(f"| {row['operation']} | " + " | ".join(cells) + " |")
    return lines


def _network(rtt_ms: float) -> str:
    if rtt_ms:
        return f"{rtt_ms:g} ms added to each round trip (bench/delay_proxy.py)"
    return "direct loopback (no added round-trip time)"


def render_short(report: dict) -> str:
    """Return what make bench prints: one ratio table per RTT and the verdict."""
    lines = [
        f"Benchmark {report['date']}, {report['server_version']}, "
        f"{report['load']['rows']:,} tasks ({report['users']:,} users x "
        f"{report['tasks_per_user']:,}), {report['calls']:,} calls per side",
        "",
    ]
    for run in report["runs"]:
        lines += [f"{_network(run['rtt_ms'])}:", ""]
        lines += ratio_table([r for r in run["services"] if r["ours_plain"]])
        lines.append("")
    return "\n".join(lines + render_verdict(report))


def render_long(report: dict, replicas: list[str]) -> str:
    """Return the full Markdown report (results/bench/, docs/performance.md)."""
    lines = [
        f"Benchmark {report['date']} on {report['machine']}, "
        f"{report['server_version']}, {report['load']['rows']:,} tasks "
        f"({report['users']:,} users x {report['tasks_per_user']:,}), "
        f"{report['calls']:,} timed calls per side"
        + (" (--quick)" if report["quick"] else ""),
        "",
    ]
    for run in report["runs"]:
        lines += [f"### {_network(run['rtt_ms'])}", ""]
        lines += ratio_table([r for r in run["services"] if r["ours_plain"]])
        lines += [
            "",
            "Median µs / p99 µs (round trips) of every side; delete_user has "
            "no plain or Django peer side (its raw DELETE is the limit):",
            "",
        ]
        lines += side_table(run["services"])
        lines.append("")
        other = [
            f"{row['operation']} {_x(row['ours_raw_pipeline'])}, "
            f"{_x(row['raw_peer_session_ours'])}, "
            f"{_x(row['raw_peer_transaction_ours'])}"
            for row in run["services"]
        ]
        lines += [
            "Today's earlier columns (ours / raw pipeline block, raw SET/RESET "
            "/ ours, raw BEGIN/COMMIT / ours): " + "; ".join(other) + ".",
            "",
        ]
    lines += ["### Verdict", "", *render_verdict(report), ""]
    load = report["load"]
    lines += [
        f"Loading: seed_sample_data {load['seed_rows_per_s']:,} rows/s, raw COPY "
        f"{load['raw_copy_rows_per_s']:,} rows/s ({load['ratio']} of COPY), "
        f"peak RSS {load['seed_peak_rss_mib']} MiB.",
        "",
        "List latency by table size: "
        + ", ".join(
            f"{s['rows']:,} rows {s['list_median_us']} µs"
            for s in report.get("scaling", [])
        )
        + ".",
        "",
    ]
    if "admin" in report:
        lines += [
            "The admin's task list as staff (median ms): before = no "
            "task_created_idx and a date_hierarchy; after = as shipped.",
            "",
            "| request | before ms | after ms |",
            "|---|---:|---:|",
        ]
        for label, before in report["admin"]["before"].items():
            after = report["admin"]["after"][label]
            lines.append(f"| {label} | {before:,} | {after:,} |")
        lines.append("")
    lines += replicas
    for name, plan in report.get("plans", {}).items():
        lines += [
            f"Plan of the {name} query: composite index "
            f"{'used' if plan['uses_composite_index'] else 'NOT used'}, "
            f"{'a Sort node' if plan['sorts'] else 'no sort'}.",
            "",
            "```",
            plan["plan"],
            "```",
            "",
        ]
    return "\n".join(lines)
