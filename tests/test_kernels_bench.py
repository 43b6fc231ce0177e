"""``skmobile bench kernels`` / ``bench model``: records, report, and one-line errors."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.xdist_group("kernels_cpu")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "skmobile", "bench", *args], capture_output=True, text=True,
                          timeout=300)


def test_bench_kernels_json_and_report(tmp_path):
    from skmobile.kernels.bench import NOTES_MARKER

    out = tmp_path / "k.md"
    out.write_text(f"# old table\n| stale |\n\n{NOTES_MARKER}\n## Analysis\nkept words\n")
    p = _cli("kernels", "--family", "shufflenetv2", "--batch", "1", "--backends", "numba,eager,timm",
             "--rounds", "1", "--format", "json", "--out", str(out))
    assert p.returncode == 0, p.stderr
    recs = json.loads(p.stdout)
    assert len(recs) == 3 * 3 * 2
    for r in recs:
        assert set(r) >= {"shape", "dtype", "backend", "pass", "ms", "gbps"}
        assert r["backend"] in ("numba", "eager", "timm") and r["pass"] in ("fwd", "fwd+bwd")
        assert r["shape"][:2] == [1, 2] and r["ms"] > 0 and r["gbps"] > 0
    text = out.read_text()
    assert "copy bandwidth" in text and "| shufflenetv2 | 1,2,58,28,28 | fwd+bwd |" in text
    assert "| stale |" not in text and text.endswith(f"{NOTES_MARKER}\n## Analysis\nkept words\n")


@pytest.mark.parametrize("args", [["kernels", "--backends", "cuda_magic"], ["model", "sknet50", "--vs", "nope_net"]])
def test_bench_bad_input_is_one_line_exit_2(args):
    p = _cli(*args)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error:") and len(p.stderr.strip().splitlines()) == 1


def test_bench_backends_run_the_same_sk_fusion_and_numba_links_its_backward():
    import torch

    from skmobile.kernels import bench, ops

    gen = torch.Generator().manual_seed(1)
    n, m, c, hw = 2, 3, 40, 9
    branches = [torch.randn(n, c, hw, hw, generator=gen, dtype=torch.float64).float().requires_grad_()
                for _ in range(m)]
    w = tuple(t.requires_grad_() for t in bench.attention_weights(m, c, gen))
    assert w[0].shape == (c, 32) and w[1].shape == (32, m * c)  # d = max(C/16, 32)
    dv = torch.randn(n, c, hw, hw, generator=gen)
    results = {}
    for name in ("eager", "timm", "numba"):
        ops.CALLS.clear()
        results[name] = bench.step(bench.make_fn(name), branches, w, dv, True)
        if name == "numba":  # the linked backward: da pass + one fused branch-gradient pass
            assert dict(ops.CALLS) == {"pool": 1, "select": 1, "attn_grad": 1, "fused_bwd": 1}
    for name in ("timm", "numba"):
        for got, ref in zip(results[name], results["eager"]):
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_free_fusion_moves_no_data_but_every_branch_gets_a_gradient():
    import torch

    from skmobile import bench_model as model_bench
    from skmobile.layers import SKConv2d, fusion_names

    unit = SKConv2d(8, 8, paths="K3+K5", groups=2)
    x = torch.randn(2, 8, 6, 6)
    with model_bench.timing_only_fusions():
        assert model_bench.FREE in fusion_names()
        unit.fusion = model_bench.FREE
        v = unit(x)
        v.sum().backward()
        unit.fusion = "torch"
    assert model_bench.FREE not in fusion_names()  # never left behind for real models
    assert v._base is not None  # a view of the first branch: no copy
    assert torch.equal(v, unit.paths[0](x))
    for p in unit.paths:  # dV reaches every branch, so the network's whole backward is timed
        assert p.conv.weight.grad is not None and p.conv.weight.grad.abs().sum() > 0
    assert unit.attn.fc_select.weight.grad is not None  # the attention MLP still runs backward


def test_bench_model_json_with_free_ceiling_and_profile():
    p = _cli("model", "sknet50", "--vs", "resnext50_32x4d", "--train", "--batch", "2", "--input-size", "32",
             "--iters", "1", "--fusions", "torch,numba,free", "--profile", "--format", "json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [(r["model"], r["fusion"]) for r in rows] == [
        ("resnext50_32x4d", "-"), ("sknet50", "torch"), ("sknet50", "numba"), ("sknet50", "free")]
    assert all(r["images_per_s"] > 0 for r in rows) and rows[0]["vs_baseline"] == 1.0
    assert [r["fusion"] for r in rows if "profiled_step" in r] == ["numba"]  # only numba's Functions attribute
    assert 0 < rows[2]["profiled_step"]["share"] < 1


def test_roof_columns_bound_every_backend_by_copy_bandwidth():
    from skmobile.kernels import bench

    # 10 tensors (2M+1 forward, 2M+1 backward) of 1*2*4*2*2 float32 = 160 B each = 640 B at 1 GB/s
    assert abs(bench.roof_ms((1, 2, 4, 2, 2), "float32", True, 1.0) - 640e-6) < 1e-12
    assert abs(bench.roof_ms((1, 2, 4, 2, 2), "float32", False, 1.0) - 320e-6) < 1e-12
    shape = [256, 2, 128, 56, 56]  # roof at 2000 GB/s: 10 * 411,041,792 B / 2e12 B/s = 2.0552 ms
    recs = [bench.Record("sknet50", shape, "float32", b, "fwd+bwd", ms, 1.0)
            for b, ms in (("numba", 2.5), ("eager", 6.1656), ("compile", 2.0552))]
    text = bench.to_markdown({"device": "test", "copy_gbps": 2000.0, "records": recs}, "cmd", {})
    head, _, row = [ln for ln in text.splitlines() if ln.startswith("|")]
    cells = {k.strip(): v.strip() for k, v in zip(head.strip("|").split("|"), row.strip("|").split("|"))}
    assert cells["roof ms"] == "2.055"
    assert cells["eager/roof"] == "3.00x" and cells["compile/roof"] == "1.00x"


def test_fusion_profile_attributes_time_to_the_numba_functions_only():
    from skmobile import bench_model as model_bench

    numba = model_bench.fusion_profile("sknet50", "numba", batch=2, input_size=32)
    assert numba["fusion_ms"] > 0 and 0 < numba["share"] < 1 and numba["step_ms"] > numba["fusion_ms"]
    torch_fusion = model_bench.fusion_profile("sknet50", "torch", batch=2, input_size=32)
    assert torch_fusion["fusion_ms"] == 0 and torch_fusion["step_ms"] > 0
