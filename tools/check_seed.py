"""Retrain one committed paper-grid run (table, row, seed) with today's code and print it beside the
per-seed error the committed report records, with the thread count used:

    .venv/bin/python tools/check_seed.py --table 7 --row "K3 (sum)" --seed 0 [--threads 2] [--budget trial]

It trains exactly what ``skmobile reproduce --table N --train`` trains for that row and seed (the
search's ProxyTrainer with the grid's candidate), so it tells whether a committed record still
belongs to today's recipe, and how far one run moves with the CPU thread count alone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=int, required=True, choices=(4, 6, 7))
    ap.add_argument("--row", required=True, help="the row label as the report prints it")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--budget", default="trial")
    ap.add_argument("--reports", type=Path, default=REPORTS)
    args = ap.parse_args()

    import torch

    from skmobile.search.grid import grid_rows
    from skmobile.search.spaces import Candidate
    from skmobile.search.trainer import ProxyTrainer

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = {r.label: r for r in grid_rows(f"table{args.table}")}
    if args.row not in rows:
        raise SystemExit(f"error: row {args.row!r} is not in Table {args.table}; allowed: {', '.join(rows)}")
    committed = None
    report = args.reports / f"table{args.table}.json"
    if report.is_file():
        for r in json.loads(report.read_text()):
            if r["label"] == args.row:
                seeds = ((r.get("measured") or {}).get("top1_err_seeds")) or []
                committed = next((s["top1_err"] for s in seeds if s["seed"] == args.seed), None)
    row = rows[args.row]
    candidate = Candidate(row.model, {k: v for k, v in row.kwargs.items() if k != "num_classes"})
    t0 = time.perf_counter()
    out = ProxyTrainer(budget=args.budget).run(candidate, args.seed)
    print(json.dumps({"table": args.table, "row": args.row, "seed": args.seed, "budget": args.budget,
                      "threads": torch.get_num_threads(), "committed_test_error": committed,
                      "test_error": round(out.test_error, 4), "val_error": round(out.val_error, 4),
                      "proxy_params": out.proxy.get("params"), "stage_maps": out.proxy.get("stage_maps"),
                      "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
