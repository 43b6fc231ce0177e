"""Declarative search spaces: ablation, lightweight, mobile and full (their union).

A space is a list of :class:`Choice` parameters (categorical, strings/numbers/bools only; kernel
combinations are strings such as ``"K3+K5"``) and a ``build`` function turning one assignment into
a :class:`Candidate` (registered model name + ``create_model`` kwargs). A choice can be
conditional (``when``): it is sampled only when it means something (attention only with M >= 2,
r and L only with attention, SK hyper-parameters only for SK blocks). Every configuration a
space can produce builds at full size; :func:`check` verifies it cheaply (channel divisibility,
measured once per model on the meta device, :mod:`skmobile.models.sk_groups`) and the tests verify
it for every configuration.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Iterator

from skmobile.errors import SKMobileError, choose
from skmobile.specs import parse_paths, paths_to_str


@dataclass(frozen=True)
class Choice:
    """One categorical parameter; ``when(params)`` says whether it is active."""

    name: str
    choices: tuple
    when: Callable[[dict], bool] | None = None
    doc: str = ""

    def active(self, params: dict) -> bool:
        return self.when is None or bool(self.when(params))


@dataclass(frozen=True)
class Candidate:
    """What a trial trains: a registered model and its kwargs (JSON-serialisable)."""

    model: str
    kwargs: dict = field(default_factory=dict)

    @property
    def sk(self) -> dict | None:
        return self.kwargs.get("sk")

    def label(self) -> str:
        sk = self.sk
        if not sk:
            return self.model
        att = "SK" if sk.get("attention", True) else "sum"
        return f"{self.model}[{sk['paths']} {att} G={sk.get('groups', '-')} r={sk.get('reduction', '-')} L={sk.get('min_attn', '-')}]"


@dataclass(frozen=True)
class Space:
    name: str
    description: str
    params: tuple[Choice, ...]
    build: Callable[[dict], Candidate]

    def sample(self, trial) -> dict:
        """Suggest every active parameter of ``trial`` (an optuna Trial), in order."""
        params: dict = {}
        for c in self.params:
            if c.active(params):
                params[c.name] = trial.suggest_categorical(c.name, list(c.choices))
        return params

    def configurations(self) -> Iterator[dict]:
        """Every distinct assignment of the active parameters (the space, enumerated)."""

        def walk(i: int, params: dict):
            if i == len(self.params):
                yield dict(params)
                return
            c = self.params[i]
            if not c.active(params):
                yield from walk(i + 1, params)
                return
            for v in c.choices:
                params[c.name] = v
                yield from walk(i + 1, params)
                del params[c.name]

        yield from walk(0, {})

    @functools.cached_property
    def size(self) -> int:
        return sum(1 for _ in self.configurations())

    def candidate(self, params: dict) -> Candidate:
        return self.build(params)


# --- the SKNet ablation ---------------------------------------------------------------------

#: Path sets by M. K3/K5/K7 = 3x3 at dilation 1/2/3 (Table 7); the M=2 list also holds Table 6's
#: second branches (3x3 D=1 G=32, 5x5 G=64, 7x7 G=128; 3x3 D=2/D=3 are K5/K7 already). These are
#: the stored choices (a study keeps them as they are); a candidate names its paths canonically, so
#: "K3+3x3" builds, labels and reports as K3+K3.
ABLATION_PATHS = {
    1: ("K3", "K5", "K7"),
    2: ("K3+K5", "K3+K7", "K5+K7", "K3+3x3", "K3+5x5g64", "K3+7x7g128"),
    3: ("K3+K5+K7",),
}


def _with_attention(p: dict) -> bool:
    return p.get("M", 2) >= 2 and p.get("attention", False)


def _ablation_params(prefix: str = "", when=None) -> tuple[Choice, ...]:
    def w(f):
        if when is None:
            return f
        return lambda p: when(p) and f(_strip(p, prefix))

    n = prefix
    out = [Choice(n + "M", (1, 2, 3), when, "number of paths")]
    for m, paths in ABLATION_PATHS.items():
        out.append(Choice(f"{n}paths_m{m}", paths, w(lambda p, m=m: p["M"] == m), f"path set for M={m}"))
    out += [
        Choice(n + "attention", (True, False), w(lambda p: p["M"] >= 2), "SK attention (False = sum)"),
        Choice(n + "G", (16, 32, 64), when, "groups of every path without its own"),
        Choice(n + "r", (8, 16, 32), w(_with_attention), "reduction ratio r"),
        Choice(n + "L", (16, 32, 64), w(_with_attention), "minimum attention width L"),
    ]
    return tuple(out)


def _strip(p: dict, prefix: str) -> dict:
    if not prefix:
        return p
    return {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}


def _build_ablation(p: dict) -> Candidate:
    m = p["M"]
    attention = bool(p.get("attention", False)) and m >= 2
    sk = {"paths": paths_to_str(parse_paths(p[f"paths_m{m}"])), "groups": int(p["G"]), "attention": attention}
    if attention:
        sk.update(reduction=p["r"], min_attn=int(p["L"]))
    return Candidate("sknet50", {"sk": sk})


# --- lightweight (ShuffleNetV2) and mobile (MobileNetV2/V1) -----------------------------------

#: Depthwise SK path sets (G = C: the per-unit groups are the channels).
DW_PATHS = ("K3", "K5", "K3+K5", "K3+K7", "K5+K7", "K3+K5+K7")


def _sk_params(prefix: str, is_sk: Callable[[dict], bool]) -> tuple[Choice, ...]:
    n = prefix
    multi = lambda p: is_sk(p) and "+" in p[n + "paths"]  # noqa: E731
    att = lambda p: multi(p) and p[n + "attention"]  # noqa: E731
    return (
        Choice(n + "paths", DW_PATHS, is_sk, "depthwise SK paths"),
        Choice(n + "attention", (True, False), multi, "SK attention (False = sum)"),
        Choice(n + "r", (8, 16, 32), att, "reduction ratio r"),
        Choice(n + "L", (16, 32), att, "minimum attention width L"),
    )


def _dw_sk(p: dict, prefix: str) -> dict:
    paths = p[prefix + "paths"]
    attention = "+" in paths and bool(p.get(prefix + "attention", False))
    sk = {"paths": paths, "attention": attention}
    if attention:
        sk.update(reduction=p[prefix + "r"], min_attn=int(p[prefix + "L"]))
    return sk


SHUFFLE_WIDTHS = {"0.5": "x0_5", "1.0": "x1_0", "1.5": "x1_5", "2.0": "x2_0"}


def _is_sk(prefix: str, when):
    """The condition of the SK choices: the family is chosen (``when``) and its block is ``sk``."""
    return lambda p: (when is None or when(p)) and p.get(prefix + "block") == "sk"


def _unit_params(size: Choice, prefix: str, when, block_help: str) -> tuple[Choice, ...]:
    """``size`` (a width or a variant), the block variant (base, se, sk) and, for sk, the SK choices."""
    block = Choice(prefix + "block", ("base", "se", "sk"), when, block_help)
    return (size, block, *_sk_params(prefix, _is_sk(prefix, when)))


def _lightweight_params(prefix: str = "", when=None) -> tuple[Choice, ...]:
    width = Choice(prefix + "width", tuple(SHUFFLE_WIDTHS), when, "ShuffleNetV2 width")
    return (*_unit_params(width, prefix, when, "unit variant"),
            Choice(prefix + "sk_downsample", (False, True), _is_sk(prefix, when), "SK in the stride-2 units too"))


def _build_lightweight(p: dict, prefix: str = "") -> Candidate:
    block = p[prefix + "block"]
    name = f"shufflenetv2_{SHUFFLE_WIDTHS[p[prefix + 'width']]}" + ("" if block == "base" else f"_{block}")
    kwargs = {}
    if block == "sk":
        kwargs["sk"] = _dw_sk(p, prefix)
        if p[prefix + "sk_downsample"]:
            kwargs["sk_downsample"] = True
    return Candidate(name, kwargs)


MOBILE_VARIANTS = {"v2-0.5": "mobilenetv2_050", "v2-0.75": "mobilenetv2_075", "v2-1.0": "mobilenetv2_100",
                   "v2-1.4": "mobilenetv2_140", "v1-0.5": "mobilenetv1_050", "v1-1.0": "mobilenetv1_100"}


def _mobile_params(prefix: str = "", when=None) -> tuple[Choice, ...]:
    variant = Choice(prefix + "variant", tuple(MOBILE_VARIANTS), when, "MobileNet version and width")
    return _unit_params(variant, prefix, when, "block variant")


def _build_mobile(p: dict, prefix: str = "") -> Candidate:
    block = p[prefix + "block"]
    name = MOBILE_VARIANTS[p[prefix + "variant"]] + ("" if block == "base" else f"_{block}")
    return Candidate(name, {"sk": _dw_sk(p, prefix)} if block == "sk" else {})


# --- the union ----------------------------------------------------------------------------------

_PARTS = {  # family -> (params factory, builder taking (params, prefix))
    "sknet": (_ablation_params, lambda p, n: _build_ablation(_strip(p, n))),
    "shufflenetv2": (_lightweight_params, _build_lightweight),
    "mobilenet": (_mobile_params, _build_mobile),
}


def _full_params() -> tuple[Choice, ...]:
    out = [Choice("family", tuple(_PARTS), None, "model family")]
    for fam, (factory, _) in _PARTS.items():
        out += factory(f"{fam}.", lambda p, fam=fam: p.get("family") == fam)
    return tuple(out)


def _build_full(p: dict) -> Candidate:
    fam = p["family"]
    return _PARTS[fam][1](p, f"{fam}.")


SPACES: dict[str, Space] = {
    "ablation": Space("ablation", "SKNet-50's SK unit: paths K3/K5/K7 and Table 6 branches, attention, M, G, r, L",
                      _ablation_params(), _build_ablation),
    "lightweight": Space("lightweight", "ShuffleNetV2 width x {base, SE, SK} x SK hyper-parameters",
                         _lightweight_params(), _build_lightweight),
    "mobile": Space("mobile", "MobileNetV2/V1 width x {base, SE, SK} x SK hyper-parameters",
                    _mobile_params(), _build_mobile),
    "full": Space("full", "the union of ablation, lightweight and mobile", _full_params(), _build_full),
}


def get_space(name: str) -> Space:
    choose("space", name, SPACES)
    return SPACES[name]


# --- validity ------------------------------------------------------------------------------------

def check(candidate: Candidate, **build_kwargs) -> str | None:
    """Why ``candidate`` cannot be built (with ``build_kwargs`` such as a proxy's), or None."""
    if not candidate.sk:
        return None
    from skmobile.models.sk_groups import groups_problem

    try:
        return groups_problem(candidate.model, {**candidate.kwargs, **build_kwargs})
    except SKMobileError as exc:  # a malformed spec or an unknown model
        return str(exc)


def describe(space: Space) -> list[tuple[str, str, str]]:
    """(name, choices, doc) rows for ``--list-spaces``."""
    return [(c.name, ", ".join(map(str, c.choices)) + (" (conditional)" if c.when else ""), c.doc)
            for c in space.params]


__all__ = ["Candidate", "Choice", "Space", "SPACES", "get_space", "check", "describe"]
