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
    out = tmp_path / "k.md"
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


@pytest.mark.parametrize("args", [["kernels", "--backends", "cuda_magic"], ["model", "sknet50", "--vs", "nope_net"]])
def test_bench_bad_input_is_one_line_exit_2(args):
    p = _cli(*args)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error:") and len(p.stderr.strip().splitlines()) == 1
