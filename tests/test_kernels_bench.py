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
        results[name] = bench._step(bench.make_fn(name), branches, w, dv, True)
        if name == "numba":  # the linked backward: da pass + one fused branch-gradient pass
            assert dict(ops.CALLS) == {"pool": 1, "select": 1, "attn_grad": 1, "fused_bwd": 1}
    for name in ("timm", "numba"):
        for got, ref in zip(results[name], results["eager"]):
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
