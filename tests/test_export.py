"""ONNX export: SK models round-trip under onnxruntime to 1e-4 with no tensor of rank above 4."""

import onnx
import pytest
import torch
from typer.testing import CliRunner

from skmobile.errors import SKMobileError
from skmobile.export import calibrate_bn, export_onnx, tensor_ranks
from skmobile.models import create_model

# (model, exporter, opset): both exporters are covered. dynamo (the CLI default, opset >= 18) is torch's
# maintained exporter but takes ~4x longer on 2 CPU cores; legacy (TorchScript) is the only route to opset 17.
CASES = [("sknet50", "legacy", 17),
         pytest.param("shufflenetv2_x1_0_sk", "dynamo", 18, marks=pytest.mark.slow),
         ("mobilenetv2_100_sk", "legacy", 17)]


@pytest.mark.parametrize("name,exporter,opset", CASES)
def test_sk_models_round_trip(name, exporter, opset, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10)
    calibrate_bn(model, (8, 3, 64, 64))  # O(1) activations, so the comparison is not between ~0 outputs
    path = tmp_path / f"{name}.onnx"
    res = export_onnx(model, path, input_size=64, opset=opset, exporter=exporter)
    assert res.opset >= 17 and res.exporter == exporter
    assert res.high_rank == [] and res.max_rank == 4, res.high_rank
    assert res.max_abs_diff is not None and res.max_abs_diff <= 1e-4, res.summary()
    assert res.output_scale > 0.05, res.summary()  # a non-vacuous comparison
    assert not model.training
    # independent rank check on the saved file
    shapes = tensor_ranks(onnx.load(str(path)))
    assert all(len(s) <= 4 for s in shapes.values() if s is not None)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "Softmax" in ops  # the SK attention made it into the graph


def test_export_cli(tmp_path):
    from skmobile.cli import _load_commands, app

    _load_commands()
    out = tmp_path / "m.onnx"
    args = ["export", "shufflenetv2_x0_5_sk", "--format", "onnx", "--out", str(out), "--input-size", "32",
            "--stem", "small", "--num-classes", "10", "--opset", "17"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert out.is_file() and "max abs difference" in res.output and "opset 17" in res.output


def test_export_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    from skmobile.cli import main

    for args in (["export", "nosuchnet", "--out", str(tmp_path / "a.onnx")],
                 ["export", "sknet26", "--out", str(tmp_path / "a.onnx"), "--opset", "16"],
                 ["export", "sknet26", "--out", str(tmp_path / "a.onnx"), "--format", "tflite"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err


def test_export_api_rejects_dynamo_below_18(tmp_path):
    with pytest.raises(SKMobileError):
        export_onnx(create_model("shufflenetv2_x0_5", num_classes=2), tmp_path / "x.onnx", 32, opset=17,
                    exporter="dynamo")
