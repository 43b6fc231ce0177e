"""Batch-1 CPU latency columns of a paper-table report: measured per row through the latency cache,
carried in ``tableN.json`` (so a re-render keeps them without measuring), and what the report says
about them (the columns' cells, ratios over the base row, the FLOPs-vs-latency findings, metadata).

Each row's entry per runtime is the cache record in short form: median ``ms``, ``p10_ms``/``p90_ms``,
the runtime's version, threads, machine, date, load average and CPUs the measuring process could use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SKMobileError
from ..latency.runtimes import RUNTIMES as KNOWN
from . import disagreement

#: the runtimes a report measures by default, in the order its columns show them
RUNTIMES = tuple(k for k in ("onnxruntime", "torch") if k in KNOWN)
_ORDER = RUNTIMES + tuple(k for k in KNOWN if k not in RUNTIMES)

#: cache record key -> key in a row's latency entry
_ENTRY = {"latency_ms": "ms", "latency_p10_ms": "p10_ms", "latency_p90_ms": "p90_ms", "latency_calls": "calls",
          "latency_runtime": "runtime", "latency_threads": "threads", "latency_device": "device",
          "latency_batch": "batch", "latency_machine": "machine", "measured": "measured",
          "latency_load_avg": "load_avg", "latency_cpus": "cpus", "latency_stable": "stable"}
NOT_RECORDED = "not recorded"


def parse_runtimes(text: str, flag: str = "--latency-runtimes") -> tuple[str, ...]:
    """``onnxruntime,torch`` -> a tuple in that order; one-line error for an unknown or empty list."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if not names:
        raise SKMobileError(f"{flag} {text!r} names no runtime; allowed: {', '.join(RUNTIMES)} (comma-separated)")
    for n in names:
        if n not in KNOWN:
            raise SKMobileError(f"{flag}: unknown runtime {n!r}; allowed: {', '.join(RUNTIMES)}")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class LatencyRequest:
    """What to measure: runtimes, intra-op threads (CPU, batch 1) and the cache file (None: the default)."""

    runtimes: tuple[str, ...] = RUNTIMES
    threads: int = 1
    cache: str | None = None

    def __post_init__(self):
        if self.threads < 1:
            raise SKMobileError(f"--latency-threads {self.threads} is not allowed; allowed: >= 1")
        for n in self.runtimes:
            if n not in KNOWN:
                raise SKMobileError(f"unknown latency runtime {n!r}; allowed: {', '.join(RUNTIMES)}")

    def flags(self) -> str:
        """The command-line options that ask for this request (for the recorded command)."""
        return (" --latency" + (f" --latency-runtimes {','.join(self.runtimes)}" if self.runtimes != RUNTIMES else "")
                + (f" --latency-threads {self.threads}" if self.threads != 1 else "")
                + (f" --latency-cache {self.cache}" if self.cache else ""))


@dataclass(frozen=True)
class RowLatency:
    """Every row's latency entries (label -> runtime -> entry) and the command that measured them."""

    by_label: dict
    command: str | None = None
    counts: dict = field(default_factory=dict)   # cache hits and fresh measurements (not rendered)


def entry(record: dict) -> dict:
    """A cache record in a row's short form (no ``latency_cached``: a report must not depend on it)."""
    return {short: record.get(key) for key, short in _ENTRY.items()}


def arch_of(row, table):
    """The full-size architecture of a table row (its kwargs as profiled, at the table's input size)."""
    from ..latency.measure import Arch

    return Arch(row.model, dict(row.kwargs), input_size=table.input_size)


def _chunks(rows, size: int = 12) -> list[list]:
    """Rows timed together: every row of the table in the same interleaved rounds (so a load change
    on a shared machine hits all of them alike), at most ``size`` models at once (memory)."""
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def report_plan():
    """Longer than a search trial's timing: at least 10 and up to 60 interleaved rounds of ~0.15 s per
    model (a table is measured once and kept in the cache, so its medians may take a minute)."""
    from ..measure.timing import TimingPlan

    return TimingPlan(round_s=0.15, min_rounds=10, max_rounds=60, max_s=120.0)


def measure_table(table, request: LatencyRequest, command: str, progress=None) -> RowLatency:
    """Every measured row's latency per runtime: stored records from the cache, the others timed
    together in interleaved rounds (:func:`report_plan`) and stored."""
    from functools import partial

    from ..latency.cache import LatencyCache
    from ..latency.measure import Setting, measure_many

    rows = [r for r in table.rows if not r.reference_only and r.model]
    cache = LatencyCache(request.cache)
    by_label: dict[str, dict] = {r.label: {} for r in rows}
    for runtime in request.runtimes:
        setting = Setting(runtime, "cpu", request.threads, 1)
        setting.check()
        for group in _chunks(rows):
            if progress:
                progress(f"{runtime}, {len(group)} models in interleaved rounds")
            found = cache.latencies({r.label: arch_of(r, table) for r in group}, setting,
                                    measure=partial(measure_many, plan=report_plan()))
            for label, rec in found.items():
                by_label[label][runtime] = entry(rec)
    if cache.hits and not cache.misses:  # nothing timed now: the records are older than this command
        command = f"the latency cache (every row timed before, on this machine; this run was `{command}`)"
    return RowLatency(by_label, command, {"cache_hits": cache.hits, "measured": cache.misses})


def from_report(rows: list[dict], metadata: dict | None) -> RowLatency | None:
    """The latency a committed report holds (its ``tableN.json`` rows), or None when it has none."""
    found = {r["label"]: dict(r["measured"]["latency"]) for r in rows
             if (r.get("measured") or {}).get("latency")}
    if not found:
        return None
    return RowLatency(found, (metadata or {}).get("latency measured by"))


def attach(rows: list[dict], latency: RowLatency, flops_key: str | None) -> None:
    """Put each row's entries in ``measured.latency`` and, for rows with a base row, the ratios of
    measured MFLOPs and of median latency over it in ``delta_vs.ratio``."""
    by_label = {r["label"]: r for r in rows}
    for r in rows:
        lat = latency.by_label.get(r["label"])
        if lat and r["measured"]:
            r["measured"]["latency"] = {k: lat[k] for k in runtimes_of_entries([lat])}
    for r in rows:
        d = r.get("delta_vs")
        base = by_label.get(d["baseline"]) if d else None
        if not base or not (r["measured"] or {}).get("latency") or not (base["measured"] or {}).get("latency"):
            continue
        ratio = {}
        if flops_key and r["measured"].get(flops_key) and base["measured"].get(flops_key):
            ratio["flops"] = round(r["measured"][flops_key] / base["measured"][flops_key], 4)
        for rt, e in r["measured"]["latency"].items():
            b = base["measured"]["latency"].get(rt)
            if b and b.get("ms") and e.get("ms"):
                ratio[rt] = round(e["ms"] / b["ms"], 4)
        d["ratio"] = ratio


def runtimes_of_entries(entries: list[dict]) -> list[str]:
    """Runtimes present in any of ``entries`` (runtime -> entry), in :data:`RUNTIMES` order."""
    return [rt for rt in _ORDER if any(rt in e for e in entries)]


def runtimes_in(rows: list[dict]) -> list[str]:
    return runtimes_of_entries([(r["measured"] or {}).get("latency") or {} for r in rows])


def cell(e: dict | None) -> str:
    """``median [p10-p90]`` in ms, or — ."""
    if not e or e.get("ms") is None:
        return "—"
    if e.get("p10_ms") is None or e.get("p90_ms") is None:
        return f"{e['ms']:.2f}"
    return f"{e['ms']:.2f} [{e['p10_ms']:.2f}-{e['p90_ms']:.2f}]"


def header(runtime: str) -> str:
    return f"latency {runtime} (ms) median [p10-p90]"


# --- what the report says ------------------------------------------------------------------------

def _entries(rows: list[dict]) -> list[dict]:
    return [e for r in rows for e in ((r["measured"] or {}).get("latency") or {}).values()]


def _joined(values) -> str:
    vals = sorted({str(v) for v in values if v not in (None, "", [])})
    return "; ".join(vals) if vals else NOT_RECORDED


def _machine(text: str) -> str:
    name, _, n = str(text).rpartition(" x")
    return f"{name}, {n} logical CPUs" if name and n.isdigit() else str(text)


def _loads(entries: list[dict]) -> list[list[float]]:
    return [e["load_avg"] for e in entries if isinstance(e.get("load_avg"), list) and e["load_avg"]]


def _load_text(entries: list[dict]) -> str:
    loads = _loads(entries)
    if not loads:
        return NOT_RECORDED
    ones = [x[0] for x in loads]
    rng = f"{min(ones):.2f}" if min(ones) == max(ones) else f"{min(ones):.2f} to {max(ones):.2f}"
    return f"{rng} (1-minute load average when each timing began)"


def _shared(entries: list[dict]) -> str | None:
    """A plain statement when other processes ran while measuring (load above the measuring threads)."""
    loads = _loads(entries)
    threads = max((e.get("threads") or 1 for e in entries), default=1)
    if not loads or max(x[0] for x in loads) <= threads + 0.5:
        return None
    n = max((str(e.get("machine") or "").rpartition(" x")[2] for e in entries), key=len, default="")
    cpus = f" on {n} logical CPUs" if n.isdigit() else ""
    return (f"other processes shared the machine (1-minute load up to {max(x[0] for x in loads):.2f}{cpus} while "
            f"{threads} thread(s) measured): absolute times are noisy; rows timed in the same interleaved rounds "
            "shared that load, so their ratios hold better than the absolute times")


def _cpus_text(entries: list[dict]) -> str:
    seen = sorted({(f"CPU {e['cpus'][0]}" if len(e["cpus"]) == 1 else f"CPUs {','.join(map(str, e['cpus']))}")
                   for e in entries if e.get("cpus")})
    return "; ".join(seen) if seen else NOT_RECORDED


def _dates(entries: list[dict]) -> str:
    days = sorted({str(e["measured"])[:10] for e in entries if e.get("measured")})
    if not days:
        return NOT_RECORDED
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


def paragraph(rows: list[dict], input_size: int) -> str | None:
    """What the latency columns are, and on what they were measured (md and HTML)."""
    es = _entries(rows)
    if not es:
        return None
    how = {"onnxruntime": "the ONNX graph of `skmobile export`, all graph optimisations, sequential execution",
           "torch": "eager PyTorch under inference_mode"}
    runtimes = "; ".join(f"{_joined(e['runtime'] for e in es if str(e.get('runtime', '')).startswith(rt))} "
                         f"({how[rt]})" for rt in runtimes_in(rows))
    text = (f"Latency: batch-1 inference of the full-size model ({input_size} px, random weights, eval mode) on "
            f"the CPU, median of the timed calls with their 10th-90th percentile range, in ms, under {runtimes}; "
            f"{_joined(e.get('threads') for e in es)} intra-op thread(s); rows measured together were timed in the "
            f"same interleaved rounds. Machine: {_joined(_machine(e.get('machine')) for e in es)}; CPUs the measuring "
            f"process could use: {_cpus_text(es)}; load: {_load_text(es)}; measured {_dates(es)}. "
            "Ratios over the base row divide medians.")
    shared = _shared(es)
    return text + (f" Note: {shared}." if shared else "")


def metadata(rows: list[dict], command: str | None) -> dict:
    """The latency keys of the report's metadata block."""
    es = _entries(rows)
    if not es:
        return {}
    stable = [e.get("stable") for e in es if e.get("stable") is not None]
    return {
        "latency measured by": command or NOT_RECORDED,
        "latency machine": _joined(_machine(e.get("machine")) for e in es),
        "latency CPUs allowed": _cpus_text(es),
        "latency load": _load_text(es) + (f"; {_shared(es)}" if _shared(es) else ""),
        "latency runtimes": _joined(e.get("runtime") for e in es),
        "latency threads": _joined(e.get("threads") for e in es),
        "latency date": _dates(es),
        "latency stable medians": (f"{sum(stable)} of {len(stable)} timings reached a 95% interval within 1% of "
                                   "the median" if stable else NOT_RECORDED),
    }


def _to_mflops(value, key: str | None):
    return None if value is None else value * 1000 if key == "gflops" else value


def findings(rows: list[dict], flops_key: str | None) -> dict:
    """Per runtime, :func:`skmobile.report.disagreement.compare` over the measured rows."""
    out = {}
    for rt in runtimes_in(rows):
        items = []
        for r in rows:
            m = r["measured"] or {}
            e = (m.get("latency") or {}).get(rt)
            if e and flops_key and m.get(flops_key) is not None:
                items.append((r["label"], _to_mflops(m[flops_key], flops_key), e["ms"]))
        out[rt] = {**disagreement.compare(items), "base_row_gaps": base_row_gaps(rows, rt)}
    return out


def setting_name(rows: list[dict], runtime: str) -> str:
    es = [e for r in rows for k, e in ((r["measured"] or {}).get("latency") or {}).items() if k == runtime]
    threads = _joined(e.get("threads") for e in es)
    return f"{runtime} ({threads} thread{'s' if threads != '1' else ''}, batch 1, CPU)"


def base_row_gaps(rows: list[dict], runtime: str, gap_pct: float = disagreement.GAP_PCT) -> list[dict]:
    """Rows whose latency ratio over their base row differs from their MFLOPs ratio by more than
    ``gap_pct`` (relative): what FLOPs say a change costs vs what it costs in time."""
    out = []
    for r in rows:
        ratio = (r.get("delta_vs") or {}).get("ratio") or {}
        f, t = ratio.get("flops"), ratio.get(runtime)
        if f and t and abs(t / f - 1) * 100 > gap_pct:
            out.append({"label": r["label"], "baseline": r["delta_vs"]["baseline"], "flops_ratio": f,
                        "latency_ratio": t})
    return out


def base_row_text(rows: list[dict], runtime: str) -> str:
    """One sentence on :func:`base_row_gaps` (empty when no row has a base row with latency)."""
    if not any(runtime in ((r.get("delta_vs") or {}).get("ratio") or {}) for r in rows):
        return ""
    gaps = base_row_gaps(rows, runtime)
    if not gaps:
        return (f"Over the base row, every row's latency ratio is within {disagreement.GAP_PCT:g} % of its "
                "MFLOPs ratio.")
    listed = "; ".join(f"{g['label']} over {g['baseline']}: MFLOPs {g['flops_ratio']:.3f}x, latency "
                       f"{g['latency_ratio']:.3f}x" for g in gaps)
    return (f"Over the base row, the latency ratio differs from the MFLOPs ratio by more than "
            f"{disagreement.GAP_PCT:g} % for {len(gaps)} row(s): {listed}.")


def finding_lines(rows: list[dict], flops_key: str | None) -> list[str]:
    """One sentence per runtime (the md bullets and the HTML list of "FLOPs vs latency"), with the
    rows whose cost over the base row FLOPs misstate."""
    found = findings(rows, flops_key)
    return [" ".join(x for x in (disagreement.sentence(res, setting_name(rows, rt)), base_row_text(rows, rt)) if x)
            for rt, res in found.items()]


def front_line(rows: list[dict], flops_key: str | None) -> str | None:
    """Which rows are on the Pareto front of proxy error vs MFLOPs, and vs each runtime's latency."""
    from .pareto import pareto_front

    measured = [(r["label"], r["measured"]) for r in rows if (r["measured"] or {}).get("top1_err") is not None]
    if len(measured) < 2 or not runtimes_in(rows):
        return None
    costs = {"MFLOPs": {lb: _to_mflops(m.get(flops_key), flops_key) for lb, m in measured}}
    for rt in runtimes_in(rows):
        costs[f"{rt} latency"] = {lb: ((m.get("latency") or {}).get(rt) or {}).get("ms") for lb, m in measured}
    err = {lb: m["top1_err"] for lb, m in measured}
    fronts = {}
    for name, cost in costs.items():
        pts = {(cost[lb], err[lb]): lb for lb in cost if cost[lb] is not None}
        fronts[name] = [pts[p] for p in pareto_front(list(pts))]
    parts = [f"vs {name}: {', '.join(f) or 'none'}" for name, f in fronts.items()]
    everywhere = set.intersection(*(set(f) for f in fronts.values()))
    some = sorted(set().union(*fronts.values()) - everywhere)
    tail = (f"; on some fronts only: {', '.join(some)}" if some else "; the fronts hold the same rows")
    return "Pareto front of proxy error (rows no other row beats on both) " + "; ".join(parts) + tail + "."
