#!/usr/bin/env python3
"""What computing the filter's spectrum costs a forward, on the GPU.

Times, per (N, B, H), in CUDA-graph replay (20 calls per graph, so launch
latency and host overhead are out of the picture), fp16, gated, L = K = N:

  forward      ffc_conv_forward (the spectrum of k computed in the call)
  precomputed  ffc_conv_forward_spectrum with a spectrum made beforehand
  spectrum     ffc_kernel_spectrum_compute alone

"forward - precomputed" is what the spectrum adds to a call. It is paid per
channel, the convolution per batch element, so it weighs most at small B.
With --backward the same for ffc_conv_backward (all four gradients) against
ffc_conv_backward_spectrum. With --step a training step: ffc_conv_forward then
ffc_conv_backward (k transformed twice) against ffc_kernel_spectrum_compute,
ffc_conv_forward_spectrum and ffc_conv_backward_spectrum (once): what the
Python bindings' reuse_spectrum=True saves, less their allocation of the
spectrum.

    FLASHFFTCONV_LIBRARY=build-device/libflashfftconv.so python3 bench/spectrum_cost.py
    ... --shapes 4096x64x768,16384x16x768

Needs PyTorch with CUDA (for the buffers, the graph and the events).
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
from flashfftconv._plan import Plan, Shape  # noqa: E402

DEFAULT_SHAPES = "256x64x768,512x64x768,1024x64x768,4096x64x768,16384x16x768,256x8x768,1024x8x768"


def graph_us(call, calls_per_graph=20, replays=10):
    """Microseconds per call, from replays of a graph of calls_per_graph calls."""
    for _ in range(3):
        call()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls_per_graph):
            call()
    graph.replay()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(replays):
        graph.replay()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / (replays * calls_per_graph) * 1000.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated NxBxH (L = K = N)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--backward", action="store_true", help="time the backward instead of the forward")
    mode.add_argument("--step", action="store_true", help="time forward + backward, k against one spectrum")
    args = ap.parse_args()
    what = "step" if args.step else "backward" if args.backward else "forward"
    second = "1 spectrum" if args.step else "precomputed"
    print(f"{'N':>8} {'B':>4} {'H':>5} {what:>11} {second:>12} {'difference':>11} {'spectrum':>9}  (us per call)")
    for spec in args.shapes.split(","):
        n, B, H = (int(x) for x in spec.split("x"))
        plan = Plan(n, "float16", "cuda", 0)
        u, ig, og = (torch.randn(B, H, n, device="cuda", dtype=torch.float16) for _ in range(3))
        k = torch.randn(H, n, device="cuda", dtype=torch.float32)
        y = torch.empty_like(u)
        if args.backward or args.step:  # dy, and the four gradients
            dy, du, dig, dog = (torch.randn_like(u) for _ in range(4))
            dk = torch.empty_like(k)
        shape = Shape(B, H, n, n)
        ws = torch.empty(max(plan.workspace_size(shape), 1), dtype=torch.uint8, device="cuda")
        spectrum = torch.empty(plan.spectrum_size(shape), dtype=torch.uint8, device="cuda")

        def stream():  # the capture runs on a side stream: ask at each call
            return torch.cuda.current_stream().cuda_stream

        def forward():
            plan.forward_ptr(shape, u.data_ptr(), k.data_ptr(), ig.data_ptr(), og.data_ptr(), y.data_ptr(),
                             ws.data_ptr(), ws.numel(), stream())

        def compute_spectrum():
            plan.compute_spectrum_ptr(shape, k.data_ptr(), spectrum.data_ptr(), spectrum.numel(), stream())

        def precomputed():
            plan.forward_spectrum_ptr(shape, u.data_ptr(), spectrum.data_ptr(), spectrum.numel(), ig.data_ptr(),
                                      og.data_ptr(), y.data_ptr(), ws.data_ptr(), ws.numel(), stream())

        def backward():
            plan.backward_ptr(shape, dy.data_ptr(), u.data_ptr(), k.data_ptr(), ig.data_ptr(), og.data_ptr(),
                              du.data_ptr(), dk.data_ptr(), dig.data_ptr(), dog.data_ptr(), ws.data_ptr(), ws.numel(),
                              stream())

        def backward_precomputed():
            plan.backward_spectrum_ptr(shape, dy.data_ptr(), u.data_ptr(), spectrum.data_ptr(), spectrum.numel(),
                                       ig.data_ptr(), og.data_ptr(), du.data_ptr(), dk.data_ptr(), dig.data_ptr(),
                                       dog.data_ptr(), ws.data_ptr(), ws.numel(), stream())

        if args.backward:
            forward, precomputed = backward, backward_precomputed
        elif args.step:
            def step(fwd=forward):
                fwd()
                backward()

            def step_with_spectrum(fwd=precomputed):
                compute_spectrum()
                fwd()
                backward_precomputed()

            forward, precomputed = step, step_with_spectrum

        compute_spectrum()
        torch.cuda.synchronize()
        t_fwd, t_pre, t_spec = graph_us(forward), graph_us(precomputed), graph_us(compute_spectrum)
        print(f"{n:>8} {B:>4} {H:>5} {t_fwd:>11.2f} {t_pre:>12.2f} {t_fwd - t_pre:>11.2f} {t_spec:>9.2f}")
        plan.close()


if __name__ == "__main__":
    main()
