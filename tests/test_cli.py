"""The command line itself: a fast start, the model index, usage errors and the warnings filter."""

import json
import subprocess
import sys
import warnings

import pytest

from skmobile.model_index import index_entries, registry_entries

HEAVY = ("torch", "timm", "optuna", "fvcore", "numba", "onnx", "matplotlib")


def _cli(argv, capsys):
    from skmobile.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_loading_every_command_imports_no_heavy_library():
    code = ("import sys, skmobile.cli; skmobile.cli._load_commands(); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_models_lists_the_index_without_torch():
    code = ("import sys; from skmobile.cli import main\n"
            "try:\n    main(['models', '--format', 'json'])\nexcept SystemExit as e:\n"
            f"    print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], e.code, file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY [] 0" in res.stderr
    names = [m["name"] for m in json.loads(res.stdout)]
    assert names == [e.name for e in index_entries()] and "sknet50" in names


def test_model_index_matches_the_registry():
    """Fails after a registry change until `python -m skmobile.model_index` is rerun."""
    assert index_entries() == registry_entries()


def test_models_family_filter_and_unknown_family(capsys):
    code, out, _ = _cli(["models", "--family", "sknet-cifar", "--format", "json"], capsys)
    assert code == 0 and [m["name"] for m in json.loads(out)] == ["sknet29"]
    code, out, err = _cli(["models", "--family", "nosuch"], capsys)
    assert code == 2 and out == "" and err.startswith("error: unknown family 'nosuch'; allowed:")
    assert "sknet" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv,says", [
    (["nosuch"], "No such command 'nosuch'"),
    (["models", "--bogus"], "No such option: --bogus"),
    (["profile"], "Missing argument"),
    (["profile", "sknet26", "--input-size", "abc"], "--input-size"),
])
def test_usage_errors_are_one_line_exit_2(argv, says, capsys):
    code, out, err = _cli(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and says in err and len(err.strip().splitlines()) == 1


def test_no_arguments_prints_the_help(capsys):
    code, out, err = _cli([], capsys)
    assert code == 2 and "models" in out + err and "Usage" in out + err


def test_main_leaves_the_global_warnings_filter_alone(capsys):
    before = list(warnings.filters)
    _cli(["models", "--format", "json"], capsys)
    assert warnings.filters == before


@pytest.mark.parametrize("raised,says", [
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                  "you tried to allocate 60000000000000 bytes."), "out of memory: DefaultCPUAllocator"),
    (MemoryError(), "out of memory"),
    (PermissionError(13, "Permission denied", "/some/where"), "/some/where: Permission denied"),
])
def test_failed_allocations_and_path_errors_are_one_line_exit_2(raised, says, monkeypatch, capsys):
    import skmobile.model_index

    def boom(*args, **kwargs):
        raise raised

    monkeypatch.setattr(skmobile.model_index, "index_entries", boom)
    code, out, err = _cli(["models"], capsys)
    assert code == 2 and err.startswith("error: ") and says in err and len(err.strip().splitlines()) == 1
    assert "enforce fail" not in err


def test_other_runtime_errors_still_show_their_traceback(monkeypatch, capsys):
    import skmobile.model_index

    def boom(*args, **kwargs):
        raise RuntimeError("a bug, not a bad input")

    monkeypatch.setattr(skmobile.model_index, "index_entries", boom)
    with pytest.raises(RuntimeError, match="a bug"):
        _cli(["models"], capsys)


def test_import_skmobile_is_lazy_and_its_names_resolve():
    code = ("import sys, skmobile; light = 'torch' not in sys.modules; "
            "print(light, skmobile.SKConv2d.__name__, skmobile.models.model_entry('sknet50').family, "
            "'torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["True", "SKConv2d", "sknet", "True"]


def test_printed_counts_take_the_number_of_their_count():
    from skmobile.commands._text import counted

    assert [counted(n, "paper row") for n in (0, 1, 2)] == ["0 paper rows", "1 paper row", "2 paper rows"]
    assert counted(1, "epoch") == "1 epoch" and counted(3, "entry", "entries") == "3 entries"
