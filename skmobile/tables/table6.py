"""Table 6: SKNet-50 with different second branches (first branch 3x3, D=1, G=32)."""

from ..paper import paper_rows
from ._table import Table, TableRow


#: The row every other is complexity-matched to (the paper's 27.5M / 4.47 GFLOPs two-3x3 SKNet-50).
REFERENCE = "3x3, D=1, G=32 (resulted 3x3)"


def _row(r: dict) -> TableRow:
    k, d, g = r["kernel"], r["dilation"], r["groups"]
    second = f"{k}x{k}" + (f"d{d}" if d != 1 else "") + (f"g{g}" if g != 32 else "")
    stats = g != 32  # the 28.1M rows match only with BN running statistics counted
    label = f"{k}x{k}, D={d}, G={g} (resulted {r['resulted_kernel']}x{r['resulted_kernel']})"
    return TableRow(
        label=label,
        model="sknet50",
        paper={"params_m": r["params_m"], "gflops": r["gflops"], "top1_err": r["top1_err"]},
        kwargs={"sk": {"paths": f"K3+{second}"}},
        params_convention="learnable+bn_stats" if stats else "learnable",
        note="params match with BN running stats" if stats else "",
        baseline="" if label == REFERENCE else REFERENCE,
    )


TABLE = Table(
    number=6,
    title="SKNet-50: settings of the second branch (first branch 3x3, D=1, G=32)",
    rows=tuple(_row(r) for r in paper_rows(6)),
    complexity_matched=True,
)
