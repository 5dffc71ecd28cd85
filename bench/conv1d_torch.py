"""PyTorch's depthwise Conv1d on the GPU, the baseline of bench/conv1d_bench.cu.

Times torch.nn.functional.conv1d(x, w, b, padding="same", groups=H) on the
same shapes (x as (B, H, L); the (B, L, H) rows transpose first, as a model
holding (B, L, H) activations must), forward and forward + backward with
every gradient, in fp16 and bf16. Prints one line per case, in ms.
"""
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("conv1d_torch: PyTorch not installed")
    sys.exit(0)

if not torch.cuda.is_available():
    print("conv1d_torch: no CUDA device")
    sys.exit(0)

CASES = [(16, 1024, 768, 5), (16, 1024, 2048, 5), (16, 1024, 8192, 5), (16, 2048, 768, 5),
         (16, 2048, 8192, 5), (16, 4096, 2048, 4), (8, 8192, 1024, 3), (16, 1024, 768, 31)]


def time_ms(fn, reps=20):
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


print(f"{'torch':6s} {'dt':4s} {'B':>5s} {'L':>6s} {'H':>5s} {'K':>3s} | {'fwd ms':>9s} | {'fwd+bwd ms':>10s}")
for (B, L, H, K) in CASES:
    for layout in ("BHL", "BLH"):
        for dt in (torch.float16, torch.bfloat16):
            shape = (B, H, L) if layout == "BHL" else (B, L, H)
            x = torch.randn(shape, device="cuda", dtype=dt, requires_grad=True)
            w = torch.randn(H, 1, K, device="cuda", dtype=dt, requires_grad=True)
            b = torch.randn(H, device="cuda", dtype=dt, requires_grad=True)

            def fwd():
                xi = x if layout == "BHL" else x.transpose(1, 2)
                y = F.conv1d(xi, w, b, padding="same", groups=H)
                return y if layout == "BHL" else y.transpose(1, 2).contiguous()

            dy = torch.randn_like(fwd())

            def fwd_bwd():
                torch.autograd.backward(fwd(), dy)

            with torch.no_grad():
                tf = time_ms(fwd)
            tb = time_ms(fwd_bwd)
            name = "fp16" if dt == torch.float16 else "bf16"
            print(f"{layout:6s} {name:4s} {B:5d} {L:6d} {H:5d} {K:3d} | {tf:9.4f} | {tb:10.4f}")
