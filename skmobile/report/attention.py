"""SK attention as objects grow: the paper's paired enlargement protocol (Li et al., CVPR 2019,
Sec. 4.4, Figures 3 and 4).

The same test images are shown at 1.0x, 1.5x and 2.0x: the centre crop of side ``H / factor`` is
resized back to ``H`` (:func:`enlarge_centre`). For one SK unit per stage (the last unit at each
resolution, as the paper's SK_2_3, SK_3_4, SK_5_3), the attention to the path with the largest receptive
field minus the attention to the smallest is kept per channel, averaged over images (the paper's
Figure 3) and per class (Figure 4). The whole measurement is repeated on several independently trained
models; the test of "attention to the larger kernel rises with enlargement" counts models, not images:
one number per model (its mean paired change), a one-sample t-test across models, Holm over every
(stage, factor) pair.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats as _st

from ..layers import capture_attention
from .stats import ALPHA, holm_adjust, mean_ci, rnd, sig

FACTORS = (1.0, 1.5, 2.0)
MIN_MODELS = 3
CLAIM = ("with the object enlarged, attention to the larger kernel rises in the early and middle stages and the "
         "pattern fades in the last stage (paper, Sec. 4.4, Figures 3 and 4: SKNet-50 on ImageNet, 1.0x/1.5x/2.0x)")


def _kernel_name(path) -> str:
    return f"{path.kernel}x{path.kernel}" + (f" d{path.dilation}" if path.dilation != 1 else "")


def _extent(path) -> int:
    return (path.kernel - 1) * path.dilation + 1


def enlarge_centre(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Images (N, C, H, W) with the centre enlarged ``factor`` times: the central crop of side
    ``round(H / factor)`` (and width alike) resized back to (H, W), bilinear. ``factor`` 1.0 is the identity."""
    if factor < 1.0:
        raise ValueError(f"enlargement factor {factor} must be >= 1")
    if factor == 1.0:
        return x
    h, w = x.shape[-2:]
    ch, cw = max(1, round(h / factor)), max(1, round(w / factor))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top:top + ch, left:left + cw]
    return F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)


def stage_units(model: torch.nn.Module, sample: torch.Tensor) -> list[dict]:
    """One SK unit per stage: the last unit with attention and paths of different extent at each output
    resolution, in forward order. ``sample`` is one input batch (its forward pass finds the resolutions)."""
    names = {id(m): n for n, m in model.named_modules()}
    units = capture_attention(model, False)
    sizes: dict[int, int] = {}
    hooks = [u.register_forward_hook(lambda mod, _i, out: sizes.__setitem__(id(mod), int(out.shape[-1])))
             for u in units]
    model.eval()
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for h in hooks:
            h.remove()
    chosen: dict[int, dict] = {}
    order = []
    for i, u in enumerate(units):
        paths = list(u.spec.paths)
        ext = [_extent(p) for p in paths]
        if u.attn is None or len(paths) < 2 or max(ext) == min(ext) or id(u) not in sizes:
            continue
        size = sizes[id(u)]
        if size not in chosen:
            order.append(size)
        lg, sm = int(np.argmax(ext)), int(np.argmin(ext))
        chosen[size] = {"index": i, "name": names.get(id(u), f"unit{i}"), "module": u, "large": lg, "small": sm,
                        "larger": _kernel_name(paths[lg]), "smaller": _kernel_name(paths[sm]),
                        "larger_extent": ext[lg],
                        "channels": u.out_channels, "map_size": size}
    out = []
    for stage, size in enumerate(order, 1):
        entry = chosen[size]
        entry["stage"] = stage
        out.append(entry)
    return out


def _batches(dataset, n: int, batch_size: int):
    """(images, labels) batches of the first ``n`` samples, in order (whole-batch indexing when offered)."""
    if hasattr(dataset, "images") and hasattr(dataset, "labels"):
        for start in range(0, n, batch_size):
            x, y = dataset[list(range(start, min(n, start + batch_size)))][:2]
            yield x, torch.as_tensor(y)
        return
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=batch_size)
    for batch in loader:
        yield batch[0], torch.as_tensor(batch[1])


def measure_model(model: torch.nn.Module, dataset, num_classes: int, *, factors=FACTORS, batch_size: int = 256,
                  limit: int | None = None, device: str = "cpu") -> list[dict]:
    """Per stage unit of one model: per-channel attention difference (larger - smaller) averaged over the
    images at each factor, per class, and each image's channel-mean difference per factor (paired).

    Every image is shown at every factor in the same batch order, so arrays line up image by image.
    """
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n < 1:
        raise ValueError("no test images to measure")
    model.eval().to(device)
    first, _ = next(iter(_batches(dataset, min(n, 2), 2)))
    units = stage_units(model, first.to(device))
    k = len(factors)
    acc = [{"sum": torch.zeros(k, u["channels"], dtype=torch.float64),
            "class_sum": torch.zeros(k, num_classes, u["channels"], dtype=torch.float64),
            "per_image": torch.zeros(k, n, dtype=torch.float64)} for u in units]
    counts = torch.zeros(num_classes, dtype=torch.float64)
    for u in units:
        u["module"].capture_attention = True
    seen = 0
    try:
        with torch.no_grad():
            for x, y in _batches(dataset, n, batch_size):
                x, y = x.to(device), y.long().cpu()
                b = x.shape[0]
                counts += torch.bincount(y, minlength=num_classes).double()
                for j, f in enumerate(factors):
                    model(enlarge_centre(x, f))
                    for a, u in zip(acc, units):
                        w = u["module"].attention_weights.float()
                        d = (w[:, u["large"]] - w[:, u["small"]]).reshape(b, -1).double().cpu()  # (b, C)
                        a["sum"][j] += d.sum(0)
                        a["class_sum"][j].index_add_(0, y, d)
                        a["per_image"][j, seen:seen + b] = d.mean(1)
                seen += b
    finally:
        capture_attention(model, False)
    out = []
    for a, u in zip(acc, units):
        per_class = a["class_sum"] / counts.clamp_min(1).view(1, -1, 1)
        out.append({key: u[key] for key in ("stage", "index", "name", "larger", "smaller", "larger_extent", "channels",
                                            "map_size")}
                   | {"per_channel": (a["sum"] / n).numpy(), "per_class": per_class.mean(2).numpy(),
                      "class_counts": counts.numpy().astype(int), "per_image": a["per_image"].numpy()})
    return out


def _layout(units: list[dict]) -> list[tuple]:
    return [(u["stage"], u["name"], u["larger"], u["smaller"], u["channels"]) for u in units]


def combine_models(per_model: list[list[dict]], factors=FACTORS, classes=None, alpha: float = ALPHA) -> dict:
    """Average over models and test, per stage unit and enlargement, whether the channel-mean attention
    difference rises: one paired change per model (mean over images of diff(f) - diff(1.0x))."""
    if not per_model:
        raise ValueError("no models measured")
    layout = _layout(per_model[0])
    for i, units in enumerate(per_model[1:], 2):
        if _layout(units) != layout:
            raise ValueError(f"model {i} has other SK stage units than model 1; compare models of one architecture")
    n_models = len(per_model)
    base = factors.index(1.0) if 1.0 in factors else 0
    stages = []
    for s, first in enumerate(per_model[0]):
        runs = [units[s] for units in per_model]
        curves = np.stack([r["per_channel"] for r in runs])            # (models, F, C)
        class_curves = np.stack([r["per_class"] for r in runs])        # (models, F, K)
        changes = []
        for j, f in enumerate(factors):
            if j == base:
                continue
            paired = [r["per_image"][j] - r["per_image"][base] for r in runs]  # same images, per model
            effect = np.array([p.mean() for p in paired])
            changes.append({"factor": f, "per_model": [rnd(e, 8) for e in effect],
                            "images_rising": [rnd(float((p > 0).mean()), 4) for p in paired]})
        class_change = class_curves[:, [j for j in range(len(factors)) if j != base]] \
            - class_curves[:, [base]]                                    # (models, F-1, K)
        stages.append({"stage": first["stage"], "name": first["name"], "index": first["index"],
                       "larger": first["larger"], "smaller": first["smaller"], "channels": first["channels"],
                       "larger_extent": first.get("larger_extent"),
                       "map_size": first["map_size"],
                       "per_channel_mean": [[rnd(v, 5) for v in row] for row in curves.mean(0)],
                       "per_channel_sd": ([[rnd(v, 5) for v in row] for row in curves.std(0, ddof=1)]
                                          if n_models > 1 else None),
                       "per_class_mean": [[rnd(v, 5) for v in row] for row in class_curves.mean(0)],
                       "per_class_change": [[rnd(v, 5) for v in row] for row in class_change.mean(0)],
                       "class_counts": [int(c) for c in first["class_counts"]],
                       "changes": changes})
    result = {"factors": list(factors), "models": n_models, "stages": stages, "classes": list(classes or []),
              "claim": CLAIM, "alpha": alpha}
    return judge_changes(result)


def judge_changes(result: dict) -> dict:
    """Test every (stage, enlargement) change of ``result`` from its per-model values, in place: mean,
    95% CI, one-sample t, Holm over the stages whose maps hold the larger path (the others are not
    testable on this proxy: that path reads padding there), verdict and smallest detectable change."""
    from .resolving import one_sample_detectable

    n_models, alpha = result["models"], result["alpha"]
    tests = []
    for st in result["stages"]:
        fits = not st.get("larger_extent") or st["map_size"] >= st["larger_extent"]
        for e in st["changes"]:
            effect = np.asarray(e["per_model"], float)
            e.update(mean=rnd(effect.mean(), 5), sd=rnd(effect.std(ddof=1), 5) if n_models > 1 else None,
                     ci95=None, t=None, p=None, p_holm=None, map_fits=fits)
            ci = mean_ci(effect)
            if ci is not None and n_models >= MIN_MODELS and effect.std(ddof=1) > 0:
                res = _st.ttest_1samp(effect, 0.0)
                e.update(ci95=[rnd(ci[0], 5), rnd(ci[1], 5)], t=rnd(float(res.statistic), 3), p=sig(float(res.pvalue)))
                if fits:
                    tests.append(e)
    for entry, p in zip(tests, holm_adjust([e["p"] for e in tests])):
        entry["p_holm"] = sig(p)
    for st in result["stages"]:
        for e in st["changes"]:
            e["verdict"] = _verdict(e, n_models, alpha)
            e["detectable"] = rnd(one_sample_detectable(e["sd"], n_models, alpha / max(1, len(tests))), 5)
    result["holm_family"] = len(tests)
    result["test"] = (f"per model, the mean over the same test images of [channel-mean attention difference at the "
                      f"enlargement] - [at 1.0x]; one-sample t-test of these {n_models} model means against 0 "
                      f"(scipy.stats.ttest_1samp), Holm over the {len(tests)} (stage, enlargement) tests whose map "
                      f"holds the larger path, alpha={alpha}; needs >= {MIN_MODELS} models")
    return result


def _verdict(e: dict, n_models: int, alpha: float) -> str:
    if n_models < MIN_MODELS:
        return f"not tested ({n_models} model{'s' if n_models != 1 else ''}; needs >= {MIN_MODELS})"
    if not e.get("map_fits", True):
        return "not testable on this proxy (map smaller than the larger path)"
    if e["p_holm"] is None:
        return "not testable (no spread across models)"
    if e["p_holm"] < alpha:
        return "rises" if e["mean"] > 0 else "falls"
    return "no change detected"


def checkpoint_record(path, state: dict, weights: Path | None = None) -> dict:
    """Provenance of one checkpoint: path, SHA-256 of its weights, what trained it and how well."""
    digest = None
    if weights is not None and Path(weights).is_file():
        h = hashlib.sha256()
        with open(weights, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
    meta = state.get("meta") or {}
    command = meta.get("command")
    return {"path": str(path), "sha256": digest, "model": state.get("model"), "dataset": state.get("dataset"),
            "seed": state.get("seed"), "epochs": state.get("epochs_done"), "test_error": state.get("test_error"),
            "num_classes": (state.get("model_kwargs") or {}).get("num_classes"),
            "model_kwargs": state.get("model_kwargs"),
            "command": command or _reconstructed_command(state),
            "command_recorded": command is not None}


def _reconstructed_command(state: dict) -> str | None:
    if not state.get("model"):
        return None
    parts = [f"skmobile train {state['model']}", f"--dataset {state.get('dataset')}",
             f"--epochs {state.get('epochs')}", f"--batch-size {state.get('batch_size')}",
             f"--lr {state.get('lr')}", f"--seed {state.get('seed')}"]
    limit = (state.get("meta") or {}).get("train_limit")
    if limit:
        parts.append(f"--train-limit {limit}")
    return " ".join(parts)


def quality_note(test_error: float | None, num_classes: int | None) -> str:
    """Say a model is near chance only when its test error is (within 10 % of chance error)."""
    if test_error is None or not num_classes:
        return ""
    chance = 100.0 * (1 - 1 / num_classes)
    if test_error >= 0.9 * chance:
        return (f"near chance ({test_error:.2f} % error; guessing among {num_classes} classes gives "
                f"{chance:.0f} %): its attention says nothing about the claim")
    return ""


def verdict_summary(result: dict) -> str:
    """One sentence counting the verdicts, e.g. 'Verdicts over 4 stages x 2 enlargements: rises 3, ...'."""
    verdicts = [e["verdict"] for st in result["stages"] for e in st["changes"]]
    counts = ", ".join(f"{v} {verdicts.count(v)}" for v in sorted(set(verdicts))) or "none"
    return (f"Verdicts over {len(result['stages'])} stages x {len(result['factors']) - 1} enlargements "
            f"({result['models']} models): {counts}.")


def padding_note(stages: list[dict]) -> str:
    """Name the stages whose map is smaller than their larger path's footprint: there the larger path's
    taps around the centre fall partly on padding (the map rule of skmobile.train.proxy); empty if none."""
    small = [st for st in stages if st.get("larger_extent") and st["map_size"] < st["larger_extent"]]
    if not small:
        return ""
    where = ", ".join(f"stage {st['stage']} ({st['map_size']} px map, {st['larger']} spans {st['larger_extent']} px)"
                      for st in small)
    return (f"Maps smaller than the larger path's footprint: {where}. There the larger path's taps around the "
            "centre fall partly on padding, so its attention follows the map size as much as the object; the "
            "full-size SKNet-50 runs its four stages at 56/28/14/7 px on 224 px images.")


def _fmt(v, spec=".4f") -> str:
    return "—" if v is None else format(v, spec)


def to_markdown(result: dict, command: str) -> str:
    f = result["factors"]
    from .attention_summary import summary_lines

    lines = ["# SK attention as objects grow (the paper's Figures 3 and 4 protocol)", "", "## Summary", ""]
    lines += [f"- {x}" for x in summary_lines(result)] + [""]
    lines += [f"Regenerated by `{command}`. {result['n_images']} test images of **{result['dataset']}**, each shown "
             f"at {', '.join(f'{x:g}x' for x in f)} (centre crop of side H/factor resized back to H), through "
             f"{result['models']} independently trained models. Per stage, the last SK unit at that resolution: "
             "attention to the path with the largest receptive field minus the smallest, per channel, averaged "
             "over images (and per class).", "",
             f"Claim: {result['claim']}.", "", f"Test: {result['test']}."]
    if result.get("rendered_by"):
        lines += ["", f"Re-rendered by `{result['rendered_by']}` from the per-model values the command above "
                  "measured (tests and verdicts recomputed with today's rules)."]
    lines += ["", "## Models", "",
             "| # | checkpoint | model | trained on | seed | epochs | test error (%) | weights SHA-256 | "
             "training command |", "|---|---|---|---|---|---|---|---|---|"]
    for i, ck in enumerate(result["checkpoints"], 1):
        cmd = ck["command"] or "—"
        if ck["command"] and not ck["command_recorded"]:
            cmd += " (reconstructed from state.json)"
        lines.append(f"| {i} | `{ck['path']}` | `{ck['model']}` | {ck['dataset']} | {ck['seed']} | {ck['epochs']} | "
                     f"{_fmt(ck['test_error'], '.2f')} | `{(ck['sha256'] or '—')[:16]}` | `{cmd}` |")
    notes = [f"Model {i}: {q}." for i, ck in enumerate(result["checkpoints"], 1)
             if (q := quality_note(ck["test_error"], ck["num_classes"]))]
    if notes:
        lines += [""] + notes
    lines += ["", "## Does attention to the larger kernel rise with enlargement?", "", verdict_summary(result), "",
              "| stage | SK unit | larger - smaller | map px | channels | enlargement | change per model "
              "| mean [95% CI] | images rising per model | Holm p | verdict | smallest detectable change |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for st in result["stages"]:
        for e in st["changes"]:
            ci = e["ci95"]
            mean = _fmt(e["mean"], "+.4f") + (f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "")
            lines.append(f"| {st['stage']} | `{st['name']}` | {st['larger']} - {st['smaller']} | {st['map_size']} | "
                         f"{st['channels']} | {e['factor']:g}x vs 1x | "
                         f"{', '.join(_fmt(v, '+.4f') for v in e['per_model'])} | {mean} | "
                         f"{', '.join(_fmt(v, '.0%') for v in e['images_rising'])} | {_fmt(e['p_holm'], '.3g')} | "
                         f"{e['verdict']} | {_fmt(e.get('detectable'))} |")
    note = padding_note(result["stages"])
    if note:
        lines += ["", note]
    classes = result.get("classes") or []
    if result["stages"] and classes:
        head = ["class"] + [f"stage {st['stage']} {e['factor']:g}x" for st in result["stages"] for e in st["changes"]]
        lines += ["", "## Change per class (mean over models of the class-mean change vs 1.0x)", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for k, name in enumerate(classes):
            cells = [str(name)] + [_fmt(st["per_class_change"][j][k], "+.4f")
                                   for st in result["stages"] for j in range(len(st["changes"]))]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "For comparison, the paper (SKNet-50 on ImageNet) finds the rise in its early and middle SK "
              "units and sees the pattern fade in the last stage; it reports no significance test.", "",
              "![per-channel attention difference per stage and enlargement](attention.png)"]
    return "\n".join(lines) + "\n"


def plot(result: dict, title: str):
    from . import figures  # noqa: F401  (sets the Agg backend)
    import matplotlib.pyplot as plt

    stages = result["stages"]
    cols = max(len(stages), 1)
    fig, axes = plt.subplots(2, cols, figsize=(3.4 * cols, 6.2), squeeze=False)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(result["factors"])))
    for c, st in enumerate(stages):
        ax, bx = axes[0, c], axes[1, c]
        for j, f in enumerate(result["factors"]):
            curve = np.asarray(st["per_channel_mean"][j], float)
            ax.plot(np.arange(curve.size), curve, lw=0.9, color=colors[j], label=f"{f:g}x")
            if st["per_channel_sd"] is not None and result["models"] > 1:
                sd = np.asarray(st["per_channel_sd"][j], float)
                ax.fill_between(np.arange(curve.size), curve - sd, curve + sd, color=colors[j], alpha=0.12, lw=0)
            per_class = np.asarray(st["per_class_mean"][j], float)
            bx.plot(np.arange(per_class.size), per_class, marker="o", ms=3, lw=0.9, color=colors[j], label=f"{f:g}x")
        ax.axhline(0, color="#999", lw=0.6)
        bx.axhline(0, color="#999", lw=0.6)
        ax.set_title(f"stage {st['stage']}: {st['name']}\n({st['larger']} - {st['smaller']}, {st['map_size']} px)",
                     fontsize=8)
        ax.set_xlabel("channel", fontsize=8)
        bx.set_xlabel("class", fontsize=8)
        if c == 0:
            ax.set_ylabel("attention: larger - smaller\n(mean over images and models)", fontsize=8)
            bx.set_ylabel("channel-mean difference\nper class", fontsize=8)
            ax.legend(fontsize=7, frameon=False)
        ax.tick_params(labelsize=7)
        bx.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def write(result: dict, out_dir: str | Path, command: str) -> list[Path]:
    """reports/attention.{md,json,png,svg}."""
    from .figures import save

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "attention.md", out / "attention.json"
    md.write_text(to_markdown(result, command))
    js.write_text(json.dumps({"command": command, **result}, indent=1, sort_keys=True) + "\n")
    figs = save(plot(result, f"SK attention vs enlargement, {result['models']} models on {result['dataset']}"),
                out, "attention")
    return [md, js, figs["png"], figs["svg"]]


def rerender(src: str | Path, out: str | Path, rendered_by: str) -> list[Path]:
    """Re-render ``src/attention.json`` (a committed attention report) into ``out`` with today's rules;
    the report keeps the command that measured it and names ``rendered_by``."""
    from ..errors import SKMobileError

    path = Path(src) / "attention.json"
    if not path.is_file():
        raise SKMobileError(f"{path} not found; --rerender DIR --attention needs the attention.json of an attention "
                            "report (skmobile analyze attention)")
    data = json.loads(path.read_text())
    command = data.pop("command")
    data["rendered_by"] = rendered_by
    return write(judge_changes(data), out, command)
