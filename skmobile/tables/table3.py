"""Table 3: SK against more depth, width or cardinality at matched complexity."""

from ..paper import paper_rows
from ._table import Table, TableRow

_P = {r["model"]: {"params_m": r["params_m"], "gflops": r["gflops"], "top1_err": r["top1_err"]}
      for r in paper_rows(3)}

TABLE = Table(
    number=3,
    title="SKNet-50 vs deeper, wider and higher-cardinality ResNeXt-50 (ImageNet, 224 px)",
    rows=(
        TableRow("ResNeXt-50 (32x4d)", "resnext50_32x4d", _P["ResNeXt-50 (32x4d)"], flops_convention="paper+bn",
                 note="copied from the SENet paper, which counts conv + fc + BN (paper+bn)"),
        TableRow("SKNet-50", "sknet50", _P["SKNet-50"]),
        TableRow("ResNeXt-50, wider", None, _P["ResNeXt-50, wider"],
                 note="the paper does not give this configuration (32x4.5d gives only 27.72M / 4.65G)"),
        TableRow("ResNeXt-56, deeper", "resnext56_32x4d", _P["ResNeXt-56, deeper"],
                 note="[3, 4, 8, 3] units; the paper's text calls it ResNeXt-53"),
        TableRow("ResNeXt-50 (36x4d)", "resnext50_36x4d", _P["ResNeXt-50 (36x4d)"],
                 params_convention="learnable+bn_stats", note="params match with BN running stats"),
    ),
)
