"""Search: spaces, storage, failures, continuation (fake trainer: no data, no training)."""

import os
import random

import optuna
import pytest
from optuna.trial import TrialState

from skmobile.errors import SKMobileError
from skmobile.profile import profile_model
from skmobile.search.runner import SearchConfig, run_search
from skmobile.models.sk_groups import fit_sk_groups
from skmobile.search.spaces import SPACES, Candidate, check, get_space
from skmobile.search.storage import open_storage, parse_storage

FAKE = "test_search_support:FakeTrainer"
TESTS = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(autouse=True)
def fake_trainer(monkeypatch):
    monkeypatch.setenv("SKMOBILE_SEARCH_TRAINER", FAKE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv("SKMOBILE_FAKE_FAIL", raising=False)
    monkeypatch.setenv("SKMOBILE_FAKE_SLEEP", "0")


def _search(tmp_path, **kw):
    kw.setdefault("storage", f"sqlite:///{tmp_path}/s.db")
    kw.setdefault("live", False)
    return run_search(SearchConfig(**kw))


def _trials(storage, study):
    return optuna.load_study(study_name=study, storage=open_storage(storage)).get_trials()


# --- spaces --------------------------------------------------------------------------------------

def test_spaces_sizes_and_every_configuration_builds():
    sizes = {name: s.size for name, s in SPACES.items()}
    assert sizes["full"] == sizes["ablation"] + sizes["lightweight"] + sizes["mobile"]
    for space in SPACES.values():
        for params in space.configurations():
            cand = space.candidate(params)
            assert check(cand) is None, (space.name, params)
            sk = cand.sk
            if sk and "+" not in sk["paths"]:
                assert sk["attention"] is False  # M = 1: no attention (the paper's M=1 rows)


def test_ablation_never_yields_an_impossible_model():
    space = get_space("ablation")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), directions=["minimize"] * 2)
    for _ in range(40):
        trial = study.ask()
        cand = space.candidate(space.sample(trial))
        assert check(cand) is None
        study.tell(trial, [0.1, 1.0])
    configs = list(space.configurations())
    for params in random.Random(0).sample(configs, 4):  # a real (meta-device) build agrees with check()
        cx = profile_model("sknet50", **space.candidate(params).kwargs)
        assert cx.params > 20e6
    m2 = [c for c in configs if c["M"] == 2]
    assert {c["paths_m2"] for c in m2} >= {"K3+5x5g64", "K3+7x7g128"}  # Table 6 branches are in the space


def test_a_path_set_is_named_one_way_in_labels_and_reports():
    from skmobile.report.factors import factors

    cand = get_space("ablation").candidate({"M": 2, "paths_m2": "K3+3x3", "attention": True, "G": 32,
                                            "r": 16, "L": 32})
    assert cand.kwargs["sk"]["paths"] == "K3+K3" and "[K3+K3 SK" in cand.label()
    assert factors(cand.model, cand.kwargs)["kernels"] == "K3+K3"


def test_proxy_groups_fit_a_narrow_proxy():
    cand = get_space("ablation").candidate({"M": 2, "paths_m2": "K3+7x7g128", "attention": True, "G": 64,
                                            "r": 16, "L": 32})
    narrow = {"width_mult": 0.25, "stem": "small", "in_chans": 1, "num_classes": 10}
    assert check(cand, **narrow)  # as sampled it does not fit the narrow proxy ...
    kwargs = fit_sk_groups("sknet50", {**narrow, **cand.kwargs})
    assert check(Candidate("sknet50", {"sk": kwargs["sk"]}), **narrow) is None  # ... the fitted spec does
    assert kwargs["sk"]["paths"] == "K3+7x7g32" and kwargs["sk"]["groups"] == 32  # the largest that fit
    assert kwargs["sk"]["reduction"] == 16 and kwargs["sk"]["min_attn"] == 32  # the rest as sampled
    profile_model("sknet50", input_size=28, **kwargs)
    assert fit_sk_groups("sknet50", {**narrow, "sk": {"groups": 16}}) == {**narrow, "sk": {"groups": 16}}  # fits


# --- storage ---------------------------------------------------------------------------------------

def test_parse_storage_kinds_and_bad_urls():
    assert parse_storage(None).kind == "sqlite"
    assert parse_storage("runs/x.journal").kind == "journal"
    assert parse_storage("journal:/tmp/x").url == "journal:/tmp/x"
    assert parse_storage("postgresql://u:secret@h/db").redacted() == "postgresql://u:***@h/db"
    for bad in ("foo://x", "nonsense", "journal:"):
        with pytest.raises(SKMobileError):
            parse_storage(bad)


def test_bad_storage_is_one_line_exit_2_and_leaves_data_alone(tmp_path, capsys):
    from skmobile.cli import main

    not_db = tmp_path / "notes.db"
    not_db.write_text("my notes\n")
    for url in (f"sqlite:///{not_db}", "foo://x", "postgresql://u:pw@127.0.0.1:1/none"):
        with pytest.raises(SystemExit) as exc:
            main(["search", "--storage", url, "--trials", "1", "--no-live"])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and "pw" not in err
    assert not_db.read_text() == "my notes\n"


# --- runs ------------------------------------------------------------------------------------------

def test_sqlite_search_records_everything_and_rerun_continues(tmp_path):
    s = _search(tmp_path, trials=3)
    assert s["counts"]["complete"] == 3
    s = _search(tmp_path, trials=2)  # same study name: continued, 2 more
    trials = _trials(f"sqlite:///{tmp_path}/s.db", "ablation")
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        a = t.user_attrs
        assert len(t.values) == 2 and t.values[1] == pytest.approx(a["mflops"])
        for key in ("params", "macs", "mflops", "val_error", "test_accuracy", "seed", "wall_s", "images_per_s",
                    "epochs", "versions", "label", "spec", "threads"):
            assert key in a, key
        assert a["params"] > 20e6 and a["macs"] > 4e9


def test_failed_and_nan_trials_are_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    for fail in ("sknet50", "nan:sknet50", ""):  # raise, then NaN, then fine: one study, 3 runs
        monkeypatch.setenv("SKMOBILE_FAKE_FAIL", fail)
        _search(tmp_path, trials=2, study="fail")
    trials = _trials(f"sqlite:///{tmp_path}/s.db", "fail")
    assert [t.state for t in trials] == [TrialState.FAIL] * 4 + [TrialState.COMPLETE] * 2
    reasons = [t.user_attrs.get("fail_reason") or "" for t in trials[:4]]
    assert all("fake failure" in r for r in reasons[:2]) and all("nan" in r for r in reasons[2:])
    assert all(t.user_attrs["params"] > 0 for t in trials)  # complexity is recorded even when training fails


def test_constraints_error_objective_and_other_spaces(tmp_path):
    _search(tmp_path, trials=3, space="full", objective="error", max_mflops=300, max_params=5e6, study="c")
    trials = _trials(f"sqlite:///{tmp_path}/s.db", "c")
    assert len(trials) == 3
    for t in trials:
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        cons = t.system_attrs.get("constraints") or getattr(t, "constraints", None)
        assert cons is not None and len(cons) == 2
        if t.state == TrialState.COMPLETE:
            assert len(t.values) == 1
    with pytest.raises(SKMobileError):  # the same name with another objective count is refused
        _search(tmp_path, trials=1, space="full", study="c")


def test_grid_enumerates_exactly_the_paper_rows_with_seeds(tmp_path):
    from skmobile.tables import get_table

    s = _search(tmp_path, grid="table6", seeds=2)
    trials = _trials(f"sqlite:///{tmp_path}/s.db", "grid-table6")
    labels = [r.label for r in get_table(6).rows]
    assert sorted((t.params["row"], t.params["rep"]) for t in trials) == sorted(
        (label, rep) for label in labels for rep in (0, 1))
    assert {t.user_attrs["seed"] for t in trials} == {0, 1}
    assert s["counts"]["complete"] == 10
    _search(tmp_path, grid="table6", seeds=2)  # nothing missing: nothing re-run
    assert len(_trials(f"sqlite:///{tmp_path}/s.db", "grid-table6")) == 10


def test_a_worker_that_finds_the_grid_taken_stops_instead_of_sampling_off_grid_seeds(tmp_path):
    """Two workers on one grid: the second targets more trials than remain enqueued. Once the queue is
    empty it must stop, not sample a row and repeat (a seed the grid never names)."""
    from skmobile.search.grid import GRID_DONE

    _search(tmp_path, grid="table6", seeds=2, trials=0)                 # worker 0 enqueues the 10 pairs
    s = _search(tmp_path, grid="table6", seeds=2, trials=13, worker_index=1)
    trials = _trials(f"sqlite:///{tmp_path}/s.db", "grid-table6")
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 10 and {t.user_attrs["seed"] for t in done} == {0, 1}
    extra = [t for t in trials if t.state != TrialState.COMPLETE]
    assert len(extra) == 1 and extra[0].state == TrialState.PRUNED and extra[0].user_attrs["rejected"] == GRID_DONE
    assert s["counts"]["complete"] == 10


def test_journal_file_with_two_local_workers(tmp_path):
    journal = tmp_path / "s.journal"
    s = run_search(SearchConfig(trials=4, workers=2, storage=f"journal:{journal}", study="j", live=False))
    trials = _trials(f"journal:{journal}", "j")
    assert s["counts"]["complete"] == 4
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert {t.user_attrs["worker"] for t in trials}.__len__() == 2  # two processes shared the work


def test_real_proxy_training_tiny_budget(tmp_path, monkeypatch):
    """One real trial: Fashion-MNIST, 256 training images, 1 epoch; every number in the study."""
    from pathlib import Path

    from skmobile.search.trainer import ProxyTrainer

    if not Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST is not installed (make data)")
    monkeypatch.delenv("SKMOBILE_SEARCH_TRAINER")
    monkeypatch.setattr(ProxyTrainer, "TRIAL_BUDGET", {"train_limit": 256, "val_size": 200, "test_limit": 200})
    import dataclasses

    from skmobile.train import proxy as recipes

    narrow = dataclasses.replace(recipes.FAMILY_PROXIES["sknet"],  # the trial proxy's structure at quarter width:
                                 model_kwargs={**recipes.RESNEXT_PROXY, "width_mult": 0.25})  # a CPU-test size
    monkeypatch.setitem(recipes.FAMILY_PROXIES, "sknet", narrow)
    s = _search(tmp_path, trials=1, study="real")
    assert s["counts"]["complete"] == 1, s
    (t,) = _trials(f"sqlite:///{tmp_path}/s.db", "real")
    a = t.user_attrs
    assert a["dataset"] == "fashion-mnist" and a["epochs"] == 1 and a["train_images"] == 256
    assert a["test_images"] == 200 and 0 <= a["test_accuracy"] <= 100 and a["proxy"]["params"] > 0
    assert a["params"] > 20e6 and a["images_per_s"] > 0
