"""Table 6: SKNet-50 with different second branches (first branch 3x3, D=1, G=32)."""

from ..paper import paper_rows
from ._table import Table, TableRow


def _row(r: dict) -> TableRow:
    k, d, g = r["kernel"], r["dilation"], r["groups"]
    second = f"{k}x{k}" + (f"d{d}" if d != 1 else "") + (f"g{g}" if g != 32 else "")
    stats = g != 32  # the 28.1M rows match only with BN running statistics counted
    return TableRow(
        label=f"{k}x{k}, D={d}, G={g} (resulted {r['resulted_kernel']}x{r['resulted_kernel']})",
        model="sknet50",
        paper={"params_m": r["params_m"], "gflops": r["gflops"], "top1_err": r["top1_err"]},
        kwargs={"sk": {"paths": f"K3+{second}"}},
        params_convention="learnable+bn_stats" if stats else "learnable",
        note="params match with BN running stats" if stats else "",
    )


TABLE = Table(
    number=6,
    title="SKNet-50: settings of the second branch (first branch 3x3, D=1, G=32)",
    rows=tuple(_row(r) for r in paper_rows(6)),
)
