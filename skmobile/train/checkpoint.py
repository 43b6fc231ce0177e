"""Checkpoints without pickle: weights and optimiser momentum in safetensors, the rest in JSON.

``DIR/checkpoint.safetensors`` holds ``model.<name>`` tensors and ``optim.<i>`` momentum buffers (i is
the parameter's position in the optimiser); ``DIR/state.json`` holds epochs done, history, the
recipe and how to rebuild the model (registered name + JSON kwargs). Both are written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import SKMobileError

WEIGHTS, STATE = "checkpoint.safetensors", "state.json"


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_checkpoint(out_dir, model, optimizer, state: dict) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if optimizer is not None:
        params = [p for g in optimizer.param_groups for p in g["params"]]
        for i, p in enumerate(params):
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                tensors[f"optim.{i}"] = buf.detach().cpu().contiguous()
    _atomic(out / WEIGHTS, lambda p: save_file(tensors, str(p)))
    _atomic(out / STATE, lambda p: p.write_text(json.dumps(state, indent=1, default=_json_default)))
    return out / WEIGHTS


def update_state(out_dir, **fields) -> Path:
    """Add ``fields`` to the checkpoint's state.json, written atomically like the checkpoint itself."""
    _, path = checkpoint_paths(out_dir)
    state = json.loads(path.read_text())
    state.update(fields)
    _atomic(path, lambda p: p.write_text(json.dumps(state, indent=1, default=_json_default)))
    return path


def _json_default(obj):
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


def checkpoint_paths(path) -> tuple[Path, Path]:
    """(weights, state) for a checkpoint directory or its .safetensors file."""
    p = Path(path)
    root = p if p.is_dir() else p.parent
    weights = p if p.suffix == ".safetensors" else root / WEIGHTS
    return weights, root / STATE


def has_checkpoint(out_dir) -> bool:
    weights, state = checkpoint_paths(out_dir)
    return weights.is_file() and state.is_file()


def read_checkpoint(path) -> tuple[dict, dict]:
    """(tensors, state) of a checkpoint; a missing or damaged one is a one-line SKMobileError."""
    weights, state_path = checkpoint_paths(path)
    if not weights.is_file() or not state_path.is_file():
        raise SKMobileError(f"no checkpoint at {path} (expected {weights.name} and {state_path.name})")
    try:
        tensors = load_file(str(weights))
        state = json.loads(state_path.read_text())
    except (SafetensorError, OSError, ValueError) as exc:
        raise SKMobileError(f"damaged checkpoint {weights}: {exc}") from None
    if not isinstance(state, dict):
        raise SKMobileError(f"damaged checkpoint {state_path}: it holds a JSON {type(state).__name__}; "
                            "allowed: the JSON object `skmobile train` writes")
    return tensors, state


def load_into(model, optimizer, tensors: dict) -> None:
    """Restore model weights (strict) and, when given, the optimiser's momentum buffers."""
    sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise SKMobileError(f"checkpoint does not fit this model: {str(exc).splitlines()[0]}") from None
    if optimizer is not None:
        params = [p for g in optimizer.param_groups for p in g["params"]]
        for i, p in enumerate(params):
            buf = tensors.get(f"optim.{i}")
            if buf is not None:
                optimizer.state[p]["momentum_buffer"] = buf.to(p.device, p.dtype)


def load_model(path, device: str = "cpu"):
    """Rebuild the registered model a checkpoint names and load its weights (eval mode)."""
    from ..models import create_model

    tensors, state = read_checkpoint(path)
    name = state.get("model")
    if not name or not isinstance(name, str):
        raise SKMobileError(f"checkpoint {path} does not name its model; cannot rebuild it")
    kwargs = state.get("model_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise SKMobileError(f"checkpoint {path}: model_kwargs is a JSON {type(kwargs).__name__}; allowed: an object")
    try:
        model = create_model(name, **kwargs)
    except SKMobileError as exc:
        raise SKMobileError(f"checkpoint {path} cannot be rebuilt: {exc}") from None
    load_into(model, None, tensors)
    model.skmobile_kwargs = state.get("model_kwargs") or {}
    return model.to(device).eval()


def load_checkpoint(path, device: str = "cpu"):
    """(model, state) of a checkpoint."""
    model = load_model(path, device)
    return model, read_checkpoint(path)[1]


__all__ = ["save_checkpoint", "read_checkpoint", "load_into", "load_model", "load_checkpoint", "has_checkpoint",
           "checkpoint_paths", "update_state"]
