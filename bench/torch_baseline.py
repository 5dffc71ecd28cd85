#!/usr/bin/env python3
"""Eager-PyTorch baselines of DESIGN §6, timed with CUDA events on the bench shape
(B = 64, H = 768, reduced for large N, times scaled to B = 64, H = 768; L = N):

  eager_rfft  DESIGN §6's definition: fp32 R2C, pointwise multiply, C2R, separate
              gate kernels — what an eager PyTorch user gets with torch.fft.rfft.
  readme_fft  the gated convolution exactly as the original project's README
              writes it (pad u, k and the gates to N, torch.fft.fft, ifft, real).

    python3 bench/torch_baseline.py [--sizes 256,1024,...] [--dtypes fp16,bf16] [--json FILE]

torch.fft has no bf16 kernels, so the signal is cast to fp32 first (what a user
has to do); fp16 is cast too, so both dtypes run the same fp32 transforms.
"""
import argparse
import json

import torch


def bench_shape(n):
    b = 64 if n <= 8192 else 32 if n <= 16384 else 16 if n <= 32768 else 8
    h = (768 if n <= 65536 else 384 if n <= 131072 else 192 if n <= 262144 else 96 if n <= 524288
         else 48 if n <= 1048576 else 32 if n <= 2097152 else 16)
    return b, h


def gated_conv(u, k, in_gate, out_gate, fft_size):
    L = u.shape[-1]
    pad = fft_size - L
    u = torch.nn.functional.pad(u, (0, pad))
    k = torch.nn.functional.pad(k, (0, fft_size - k.shape[-1]))
    in_gate = torch.nn.functional.pad(in_gate, (0, pad))
    out_gate = torch.nn.functional.pad(out_gate, (0, pad))
    u_f = torch.fft.fft((u * in_gate).float(), dim=-1)
    k_f = torch.fft.fft(k, dim=-1)
    y = torch.fft.ifft(u_f * k_f, dim=-1).real * out_gate
    return y[..., :L].to(u.dtype)


def gated_conv_rfft(u, k, in_gate, out_gate, fft_size):
    L = u.shape[-1]
    v = (u * in_gate).float()                     # gate kernel, cast kernel
    u_f = torch.fft.rfft(v, n=fft_size)           # fp32 R2C (zero-padded to N)
    k_f = torch.fft.rfft(k, n=fft_size)
    z = torch.fft.irfft(u_f * k_f, n=fft_size)    # pointwise multiply, C2R
    return (z[..., :L] * out_gate).to(u.dtype)    # output gate kernel, cast


def median_ms(fn, reps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default=",".join(str(1 << e) for e in range(8, 23)))
    ap.add_argument("--dtypes", default="fp16,bf16")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--json")
    ap.add_argument("--backward", action="store_true",
                    help="also time forward + backward through autograd (eager_rfft), all four gradients")
    args = ap.parse_args()
    rows = []
    print("eager PyTorch gated convolution, ms scaled to B=64 H=768, L=N")
    print("%-5s %-8s %11s %11s%s" % ("dtype", "N", "eager_rfft", "readme_fft",
                                      " %13s" % "rfft_fwd+bwd" if args.backward else ""))
    for name in args.dtypes.split(","):
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[name]
        for n in map(int, args.sizes.split(",")):
            b, h = bench_shape(n)
            try:
                u = torch.randn(b, h, n, device="cuda", dtype=dtype)
                ig = torch.randn(b, h, n, device="cuda", dtype=dtype)
                og = torch.randn(b, h, n, device="cuda", dtype=dtype)
                k = torch.randn(h, n, device="cuda", dtype=torch.float32)
                scale = (64 * 768) / (b * h)
                ms_r = median_ms(lambda: gated_conv_rfft(u, k, ig, og, n), args.reps) * scale
                ms = median_ms(lambda: gated_conv(u, k, ig, og, n), args.reps) * scale
            except torch.OutOfMemoryError:
                ms = ms_r = float("nan")
            del u, ig, og, k
            torch.cuda.empty_cache()
            row = {"n": n, "dtype": name, "B": b, "H": h, "eager_rfft_ms": ms_r, "readme_fft_ms": ms}
            line = "%-5s %-8d %11.3f %11.3f" % (name, n, ms_r, ms)
            if args.backward:
                try:
                    u = torch.randn(b, h, n, device="cuda", dtype=dtype, requires_grad=True)
                    ig = torch.randn(b, h, n, device="cuda", dtype=dtype, requires_grad=True)
                    og = torch.randn(b, h, n, device="cuda", dtype=dtype, requires_grad=True)
                    k = torch.randn(h, n, device="cuda", dtype=torch.float32, requires_grad=True)
                    dy = torch.randn(b, h, n, device="cuda", dtype=dtype)

                    def fwd_bwd():
                        y = gated_conv_rfft(u, k, ig, og, n)
                        torch.autograd.backward(y, dy)
                    ms_fb = median_ms(fwd_bwd, args.reps) * scale
                except torch.OutOfMemoryError:
                    ms_fb = float("nan")
                del u, ig, og, k, dy
                torch.cuda.empty_cache()
                row["eager_rfft_fwd_bwd_ms"] = ms_fb
                line += " %13.3f" % ms_fb
            rows.append(row)
            print(line, flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
