"""Table 2: ResNeXt, SENet and SKNet at 50 and 101 layers (224 px top-1; #P; GFLOPs)."""

from ..paper import paper_rows
from ._table import Table, TableRow

_P = {r["model"]: {"params_m": r["params_m"], "gflops": r["gflops"], "top1_err": r["top1_err_224"]}
      for r in paper_rows(2)}
_COPIED = "the paper copies this row from the SENet paper, which counts conv + fc + BN (paper+bn)"

TABLE = Table(
    number=2,
    title="ResNeXt / SENet / SKNet at 50 and 101 layers (ImageNet, 224 px)",
    rows=(
        TableRow("ResNeXt-50", "resnext50_32x4d", _P["ResNeXt-50"], flops_convention="paper+bn", note=_COPIED),
        TableRow("SENet-50", "senet50", _P["SENet-50"], params_convention="learnable+bn_stats",
                 flops_convention="paper+bn", note=_COPIED + "; params closest with BN running stats"),
        TableRow("SKNet-50", "sknet50", _P["SKNet-50"]),
        TableRow("ResNeXt-101", "resnext101_32x4d", _P["ResNeXt-101"], params_convention="learnable+bn_stats",
                 flops_convention="paper+bn", note=_COPIED + "; params match with BN running stats"),
        TableRow("SENet-101", "senet101", _P["SENet-101"], params_convention="learnable+bn_stats",
                 flops_convention="paper+bn", note=_COPIED + "; params closest with BN running stats"),
        TableRow("SKNet-101", "sknet101", _P["SKNet-101"], params_convention="learnable+bn_stats",
                 note="params match with BN running stats (48.91M; learnable only 48.74M)"),
    ),
)
