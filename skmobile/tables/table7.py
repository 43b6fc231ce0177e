"""Table 7: SKNet-50 with kernel combinations K3/K5/K7 (3x3 at dilation 1/2/3), with and without SK."""

from ..paper import paper_rows
from ._table import Table, TableRow


def _row(r: dict) -> TableRow:
    paths = "+".join(k for k in ("K3", "K5", "K7") if r[k])
    m = len(paths.split("+"))
    label = paths + (" with SK" if r["SK"] else " (sum)")
    if m == 1:  # a single path is ResNeXt-50 with a (dilated) 3x3: the paper copied ResNeXt-50's figures
        return TableRow(label, "sknet50", {"params_m": r["params_m"], "gflops": r["gflops"],
                                           "top1_err": r["top1_err"]},
                        kwargs={"sk": {"paths": paths, "attention": False}}, flops_convention="paper+bn",
                        note="single path = ResNeXt-50; the paper reuses its SENet-paper figures (paper+bn)",
                        group="M=1")
    stats = m == 3 or (m == 2 and not r["SK"])
    return TableRow(label, "sknet50", {"params_m": r["params_m"], "gflops": r["gflops"], "top1_err": r["top1_err"]},
                    kwargs={"sk": {"paths": paths, "attention": bool(r["SK"])}},
                    params_convention="learnable+bn_stats" if stats else "learnable",
                    note="params match with BN running stats" if stats else "", group=f"M={m}")


TABLE = Table(
    number=7,
    title="SKNet-50: combinations of kernels (G=32); K5 = 3x3 D=2, K7 = 3x3 D=3; (sum) = no attention",
    rows=tuple(_row(r) for r in paper_rows(7)),
)
