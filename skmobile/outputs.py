"""Where commands write, without overwriting anything by surprise.

* :func:`fresh_dir`: the default ``--out`` of ``reproduce`` and ``report``, a new folder under runs/
  (ignored by git), so a command never rewrites the committed reports/ unless asked to.
* :func:`staged`: a command writes into a temporary folder first; its files then replace those in
  ``--out`` only when none of them would drop a measurement the old file holds (a JSON number, a
  CSV column with values, a markdown or HTML heading or table column), unless ``force``. A refusal
  is one line naming the file and what it would lose; nothing in ``--out`` is written or lost.
* :func:`check_train_out`: ``train`` refuses a non-empty ``--out`` unless it resumes or is forced.
* :func:`replacing` / :func:`write_text`: a file is written to a temporary file in its own folder and
  renamed into place, so a full disk or a crash leaves the previous file whole; the failure is one
  line naming the flag.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import SKMobileError

RUNS = Path("runs")


def fresh_dir(prefix: str, root: Path = RUNS) -> Path:
    """``runs/PREFIX-YYYYmmdd-HHMMSS`` (``-2``, ``-3`` ... when taken); not created here."""
    base = root / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


# --- what a file measures ---------------------------------------------------------------------------

#: Keys that name a list element (a table row, a configuration, a trial), in this order.
_IDENTITY = ("label", "number")


def _json_numbers(value, path: str = "") -> set[str]:
    """Key paths that lead to a number. A list element is named by its label (or number) when it has
    one, e.g. ``[K3 (sum)].measured.top1_err``, else list positions merge as ``[]``."""
    if isinstance(value, bool) or value is None:
        return set()
    if isinstance(value, (int, float)):
        return {path or "(value)"}
    out: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            out |= _json_numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for v in value:
            name = next((v[k] for k in _IDENTITY if isinstance(v, dict) and isinstance(v.get(k), (str, int))), "")
            out |= _json_numbers(v, f"{path}[{name}]")
    return out


def _csv_columns(text: str) -> set[str]:
    """Columns with at least one non-empty cell."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return set()
    head, body = rows[0], rows[1:]
    return {h for i, h in enumerate(head) if any(i < len(r) and r[i].strip() for r in body)}


def _md_structure(text: str) -> set[str]:
    """Headings and table column names of a markdown file."""
    out = {line.strip() for line in text.splitlines() if line.startswith("#")}
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            out |= {f"column: {c.strip()}" for c in line.strip().strip("|").split("|") if c.strip()}
    return out


def _html_structure(text: str) -> set[str]:
    """Headings, table column names and figures of an HTML page."""
    strip = lambda s: re.sub(r"<[^>]+>", "", s).strip()  # noqa: E731
    out = {f"heading: {strip(h)}" for h in re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", text, re.S)}
    out |= {f"column: {strip(h)}" for h in re.findall(r"<th[^>]*>(.*?)</th>", text, re.S)}
    out |= {f"figure: {a}" for a in re.findall(r'<img alt="([^"]*)"', text)}
    return out


def measured(path: Path, text: str | None = None) -> set[str]:
    """What ``path`` records, in terms that :func:`dropped` can compare; empty for other files."""
    text = path.read_text(errors="replace") if text is None else text
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return _json_numbers(json.loads(text))
        if suffix == ".csv":
            return _csv_columns(text)
    except (ValueError, csv.Error):
        return set()
    if suffix == ".md":
        return _md_structure(text)
    if suffix in (".html", ".htm"):
        return _html_structure(text)
    return set()


def dropped(old: Path, new: Path) -> list[str]:
    """What ``old`` records that ``new`` would not (sorted); [] when replacing loses nothing."""
    return sorted(measured(old) - measured(new))


# --- atomic files -------------------------------------------------------------------------------------

@contextmanager
def replacing(path: Path, flag: str = "--out") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``. An OSError (a full
    disk, a folder gone) becomes one line naming ``flag``; the previous file at ``path`` is unchanged."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=path.parent)
        os.close(fd)
        os.chmod(tmp, _mode(path))
    except OSError as exc:
        raise SKMobileError(f"{flag} {path} cannot be written ({exc.strerror or exc})") from None
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise SKMobileError(f"{flag} {path} cannot be written ({exc.strerror or exc}); the previous file "
                            "there, if any, is unchanged") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _mode(path: Path) -> int:
    """The permissions a new file gets here (mkstemp's are 0600): the old file's, else 0666 less the umask."""
    if path.is_file():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path: Path, text: str, flag: str = "--out") -> Path:
    """Write ``text`` to ``path`` through :func:`replacing`."""
    with replacing(path, flag) as tmp:
        tmp.write_text(text)
    return Path(path)


# --- staged writing ------------------------------------------------------------------------------------

@contextmanager
def staged(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder; on success, move its files into ``out`` (see module doc).

    Raises SKMobileError (before anything in ``out`` is touched) when a file would replace one that
    records more, unless ``force``. On any error the temporary folder is removed and ``out`` is as it was.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SKMobileError(f"--out {out} is a file, not a folder")
    stage = Path(tempfile.mkdtemp(prefix="skmobile-out-"))
    try:
        yield stage
        files = sorted(p for p in stage.rglob("*") if p.is_file())
        if not force:
            for f in files:
                target = out / f.relative_to(stage)
                lost = dropped(target, f) if target.is_file() else []
                if lost:
                    shown = ", ".join(lost[:4]) + (f" and {len(lost) - 4} more" if len(lost) > 4 else "")
                    raise SKMobileError(f"{target} records what the new file would drop ({shown}); not replacing "
                                        "anything: pass --force to replace it, or write elsewhere with --out DIR")
        for f in files:
            target = out / f.relative_to(stage)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SKMobileError(f"--out {out} cannot be written ({exc.strerror or exc})") from None
            with replacing(target) as tmp:  # a full disk leaves the previous file whole
                shutil.copyfile(f, tmp)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def final_paths(paths, stage: Path, out: Path) -> list[Path]:
    """Paths a writer returned inside ``stage``, as they are in ``out`` after :func:`staged`."""
    return [Path(out) / Path(p).relative_to(stage) for p in paths]


# --- training output -------------------------------------------------------------------------------------

def check_train_out(out: Path | None, resume: bool, force: bool) -> None:
    """Refuse a non-empty ``--out`` unless ``resume`` (continue it) or ``force`` (replace its files)."""
    if out is None or resume or force:
        return
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SKMobileError(f"--out {out} is a file, not a folder")
    if out.is_dir():
        held = sorted(p.name for p in out.iterdir())
        if held:
            shown = ", ".join(held[:4]) + (f" and {len(held) - 4} more" if len(held) > 4 else "")
            raise SKMobileError(f"--out {out} is not empty ({shown}); pass --resume to continue its training, "
                                "--force to overwrite it, or another --out")
