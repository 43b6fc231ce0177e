"""Suite-wide settings: one torch thread per test worker (the suite runs on 2 cores with xdist)."""

import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=FutureWarning)


import pytest  # noqa: E402


@pytest.fixture
def cli(capsys):
    """Run the skmobile command in-process: ``cli(argv) -> (exit code, stdout, stderr)``; a command that
    returns without SystemExit counts as exit code 0."""
    from skmobile.cli import main

    def run(argv):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if exc.code is not None else 0
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def load_tool():
    """Import a script of tools/ by name: ``load_tool(name) -> (module, path)``."""
    import importlib.util
    from pathlib import Path

    def load(name):
        path = Path(__file__).resolve().parents[1] / "tools" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module, path

    return load
