"""Depthwise conv forms of the SK paths on one device: forward+backward ms of a plain 3x3, a 3x3
with dilation 2, and the same dilated conv run as a dense 5x5 (weight built from the 3x3 taps each
step, as ``DilatedDepthwiseConv2d`` does), per dtype/layout. Decides ``DENSE_RULES``.

    python tools/dilated_probe.py --device cuda --batch 256
"""

from __future__ import annotations

import argparse
import time

import torch

from skmobile.layers.dilated_depthwise import DilatedDepthwiseConv2d

SHAPES = [(96, 56), (144, 28), (384, 14), (960, 7)]  # MobileNetV2's SK stages at 224 px
MODES = {"fp32 NCHW": (torch.float32, False), "bf16 NHWC": (torch.bfloat16, True), "fp16 NHWC": (torch.float16, True),
         "bf16 NCHW": (torch.bfloat16, False)}


def fwd_bwd_ms(conv, x, iters: int) -> float:
    def step():
        conv.zero_grad(set_to_none=True)
        conv(x).sum().backward()

    step()
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return 1e3 * sorted(times)[len(times) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--modes", default="fp32 NCHW,bf16 NHWC,fp16 NHWC,bf16 NCHW")
    p.add_argument("--shapes", default="", help="C:H list, e.g. 96:56,144:28 (default: MobileNetV2's)")
    args = p.parse_args()
    shapes = [tuple(int(v) for v in s.split(":")) for s in args.shapes.split(",")] if args.shapes else SHAPES
    print(f"device {args.device} ({torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'}), "
          f"torch {torch.__version__}, depthwise fwd+bwd ms, median of {args.iters}")
    print("| mode | N,C,H | 3x3 | 3x3 dilation 2 | dilated as dense 5x5 | dilated/dense |")
    print("|---|---|---|---|---|---|")
    for name in args.modes.split(","):
        dtype, cl = MODES[name]
        mf = torch.channels_last if cl else torch.contiguous_format
        for c, h in shapes:
            x = torch.randn(args.batch, c, h, h, device=args.device, dtype=dtype).contiguous(memory_format=mf)
            x.requires_grad_()
            plain = torch.nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
            dil = DilatedDepthwiseConv2d(c, c, 3, padding=2, dilation=2, groups=c, bias=False)
            ms = {}
            for key, conv, form in (("plain", plain, None), ("dilated", dil, "dilated"), ("dense", dil, "dense")):
                conv = conv.to(args.device, dtype).to(memory_format=mf)
                if form:
                    conv.form = form
                ms[key] = fwd_bwd_ms(conv, x, args.iters)
            print(f"| {name} | {args.batch},{c},{h} | {ms['plain']:.3f} | {ms['dilated']:.3f} | {ms['dense']:.3f} "
                  f"| {ms['dilated'] / ms['dense']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
