"""Every README example command that is cheap enough leaves `git status` clean in a fresh copy.

The commands are parsed from the README's shell code blocks (not listed here), so an example added
to the README is run too, or must be given a reason in SKIPPED. They run in a temporary git
repository holding the tracked files, through the CLI in this process, with the search's fake
trainer (SKMOBILE_SEARCH_TRAINER): what is tested is where commands write, not what they measure.
Commands that create studies run first (a user searches before reporting); the rest in README order.
"""

import hashlib
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SHELL_BLOCKS = ("", "bash", "sh", "shell", "console")

#: (predicate on argv, why the example is not run here). Every other example must run and exit 0.
SKIPPED = [
    (lambda a: a[0] == "make", "make demo/test: builds a virtualenv, downloads data, runs the real search or the "
                               "whole suite (minutes)"),
    (lambda a: a[:2] == ["skmobile", "train"], "trains a proxy on Fashion-MNIST (minutes)"),
    (lambda a: "--train" in a or "--grid" in a, "a paper grid: 11 rows x 3 seeds = 33 trials, about 2 minutes on "
                                                "2 cores even with the fake trainer; test_outputs.py checks where "
                                                "reproduce writes by default"),
    (lambda a: a[:2] == ["skmobile", "eval"], "needs the checkpoint `skmobile train` writes"),
    (lambda a: a[:2] == ["skmobile", "analyze"], "needs the checkpoints `skmobile train` writes"),
    (lambda a: a[:2] == ["skmobile", "bench"], "benchmarks: minutes of timing"),
    (lambda a: a[:2] == ["skmobile", "export"], "builds, exports and checks a full-size model in onnxruntime "
                                                "(minutes on 2 cores)"),
    (lambda a: any(x.startswith(("postgresql://", "mysql://")) for x in a), "needs a database server"),
    (lambda a: any("latency" in x for x in a[1:]), "times full-size models in onnxruntime (minutes), or needs the "
                                                   "table `skmobile bench latency --build-table` builds"),
    (lambda a: a[0] == "optuna-dashboard", "a web server that runs until stopped"),
    (lambda a: a[0] in ("bash", "python", "pip"), "GPU scripts, probes and installs"),
]
CREATES_STUDIES = (lambda a: a[:2] == ["skmobile", "search"] or a[:3] == ["skmobile", "reproduce", "--train"]
                   or (a[:2] == ["skmobile", "reproduce"] and "--train" in a))


def readme_commands(text: str) -> list[list[str]]:
    """argv of every command line in the README's shell code blocks, in order."""
    out = []
    for m in re.finditer(r"^```([\w+-]*)\n(.*?)^```", text, re.S | re.M):
        if m.group(1) not in SHELL_BLOCKS:
            continue
        for line in m.group(2).splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                out.append(argv)
    return out


def _skip_reason(argv):
    return next((why for pred, why in SKIPPED if pred(argv)), None)


def _tracked(root: Path) -> list[str]:
    return subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip("\0").split("\0")


def _digest(root: Path, files: list[str]) -> dict:
    return {f: hashlib.sha1((root / f).read_bytes()).hexdigest() for f in files if (root / f).is_file()}


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout


def test_readme_parsing_finds_the_examples():
    cmds = readme_commands((ROOT / "README.md").read_text())
    assert ["skmobile", "report"] in cmds and any(c[:2] == ["skmobile", "search"] for c in cmds)
    assert all(c[0] != "import" for c in cmds)  # python blocks are not commands


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_readme_examples_leave_git_status_clean(tmp_path, monkeypatch):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = _tracked(ROOT)
    repo = tmp_path / "clone"
    for f in files:
        src = ROOT / f
        if src.is_file():
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / f)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "copy")
    source_before = _digest(ROOT, files)

    from skmobile.cli import _load_commands, app

    _load_commands()
    monkeypatch.chdir(repo)
    monkeypatch.setenv("SKMOBILE_SEARCH_TRAINER", "test_search_support:FakeTrainer")
    monkeypatch.setenv("SKMOBILE_FAKE_SLEEP", "0")
    monkeypatch.delenv("SKMOBILE_FAKE_FAIL", raising=False)
    cmds = readme_commands((repo / "README.md").read_text())
    ran = []
    for argv in [c for c in cmds if CREATES_STUDIES(c)] + [c for c in cmds if not CREATES_STUDIES(c)]:
        if _skip_reason(argv):
            continue
        assert argv[0] == "skmobile", f"README example {shlex.join(argv)}: run it here or add it to SKIPPED"
        res = CliRunner().invoke(app, argv[1:])
        assert res.exit_code == 0, f"README example `{shlex.join(argv)}` failed: {res.output[-800:]} {res.exception!r}"
        ran.append(argv)
        status = _git(repo, "status", "--porcelain")
        assert status == "", f"`{shlex.join(argv)}` changed the repository:\n{status}"
    assert any(a[:2] == ["skmobile", "report"] for a in ran) and any(a[:2] == ["skmobile", "reproduce"] for a in ran)
    assert (repo / "runs" / "report-ablation" / "ablation.html").exists()  # `report --study ablation` wrote here
    assert _digest(ROOT, files) == source_before  # nor did anything write into the source checkout
