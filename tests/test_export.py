"""ONNX export: every model family round-trips under onnxruntime within float32 rounding (judged
against the output's scale), no tensor has rank above 4, and a perturbed graph fails the check."""

import onnx
import pytest
import torch
from typer.testing import CliRunner

from skmobile.errors import SKMobileError
from skmobile.export import ATOL, RTOL, calibrate_bn, compare_outputs, export_onnx, tensor_ranks
from skmobile.model_index import index_entries
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
    assert res.max_abs_diff is not None and res.matches and res.ok, res.summary()
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
    assert out.is_file() and "max |onnxruntime - torch|" in res.output and "opset 17" in res.output


# The smallest model of each family; the legacy exporter (opset 17) keeps the sweep fast, and the
# dynamo exporter (the CLI default) is covered by the slow case of test_sk_models_round_trip.
FAMILY_MODELS = {"resnext": "resnext50_32x4d", "senet": "senet50", "sknet": "sknet26",
                 "resnext-cifar": "resnext29_16x32d", "senet-cifar": "senet29", "sknet-cifar": "sknet29",
                 "shufflenetv2": "shufflenetv2_x0_5_sk", "mobilenetv2": "mobilenetv2_050_sk",
                 "mobilenetv1": "mobilenetv1_050_sk"}
SLOW_FAMILIES = {"resnext-cifar", "senet-cifar", "sknet-cifar"}  # 30-60 M parameters to initialise


def test_every_family_is_in_the_export_sweep():
    assert set(FAMILY_MODELS) == {e.family for e in index_entries()}


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW_FAMILIES else f
                                    for f in FAMILY_MODELS])
def test_every_family_exports_within_float32_rounding(family, tmp_path):
    torch.manual_seed(0)
    model = create_model(FAMILY_MODELS[family], num_classes=10)
    calibrate_bn(model, (8, 3, 32, 32))
    res = export_onnx(model, tmp_path / "m.onnx", input_size=32, opset=17, exporter="legacy")
    assert res.ok and res.max_rank <= 4, res.summary()
    assert res.output_scale > 0.05, res.summary()
    assert res.bound == pytest.approx(RTOL * res.output_scale + ATOL)


def _small_export(tmp_path):
    torch.manual_seed(0)
    model = create_model("mobilenetv1_050_sk", num_classes=10)
    calibrate_bn(model, (8, 3, 32, 32))
    res = export_onnx(model, tmp_path / "m.onnx", input_size=32, opset=17, exporter="legacy")
    assert res.ok, res.summary()
    return model, res


def test_a_weight_changed_after_export_fails_the_check(tmp_path):
    model, res = _small_export(tmp_path)
    with torch.no_grad():
        model.fc.weight[0, 0] += 0.5  # one weight of one logit
    diff, scale = compare_outputs(res.path, model, torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    res.max_abs_diff, res.output_scale = diff, scale
    assert not res.matches and not res.ok, res.summary()


def _scale_largest_initializer(path, factor):
    proto = onnx.load(str(path))
    init = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
    arr = onnx.numpy_helper.to_array(init) * factor
    init.CopyFrom(onnx.numpy_helper.from_array(arr.astype(arr.dtype), init.name))
    onnx.save(proto, str(path))


def test_cli_fails_on_a_patched_graph_with_a_clear_message(tmp_path, monkeypatch, capsys):
    import skmobile.export as export_module
    from skmobile.cli import main

    original = export_module._export

    def export_then_patch(model, x, path, opset, exporter):
        original(model, x, path, opset, exporter)
        _scale_largest_initializer(path, 1.01)  # a 1 % change in one layer's weights

    monkeypatch.setattr(export_module, "_export", export_then_patch)
    out = tmp_path / "m.onnx"
    with pytest.raises(SystemExit) as exc:
        main(["export", "mobilenetv1_050_sk", "--out", str(out), "--input-size", "32", "--num-classes", "10",
              "--opset", "17"])
    err = capsys.readouterr().err
    assert exc.value.code == 1
    assert "FAIL: onnxruntime differs from PyTorch by" in err and "above the float32 bound" in err


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
