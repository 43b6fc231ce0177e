"""Paper tables as data: each row names the model (and SK spec) that reproduces it.

A :class:`TableRow` holds the paper's cells (from ``skmobile/paper/sknet_tables.json``), the model
that should reproduce them and the counting convention each measured cell uses. Reproduction
(``skmobile reproduce``) builds the model, measures it and writes both side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableRow:
    label: str                      # the paper's row label
    model: str | None               # registered model name; None for reference-only rows
    paper: dict                     # paper cells among params_m, gflops, mflops, top1_err, ...
    kwargs: dict = field(default_factory=dict)   # create_model kwargs (e.g. sk=..., num_classes=...)
    params_convention: str = "learnable"         # or "learnable+bn_stats"
    flops_convention: str = "paper"              # or "paper+bn"
    note: str = ""                  # why a mismatch cannot be closed, or what was assumed
    group: str = ""                 # e.g. "M=2", used for the paper's horizontal rules
    baseline: str = ""              # label of the row this one is compared to (deltas), e.g. Table 4

    @property
    def reference_only(self) -> bool:
        return self.model is None


@dataclass(frozen=True)
class Table:
    number: int
    title: str
    rows: tuple[TableRow, ...]
    flops_key: str = "gflops"       # "gflops" or "mflops" (Table 4)
    input_size: int = 224
    notes: tuple[str, ...] = ()     # printed below the table
    #: the paper compares rows of (nearly) equal cost: each row's ``baseline`` is the one it is matched to
    complexity_matched: bool = False
    #: decimals the paper prints per cell (JSON drops trailing zeros: 4.70 is stored as 4.7)
    precision: dict = field(default_factory=lambda: {"params_m": 1, "gflops": 2, "mflops": 2})
