# A gated causal convolution with FlashFFTConv.jl on the CPU backend, checked
# against a direct convolution. Untested here (no Julia on the project's machines):
#
#   FLASHFFTCONV_LIBRARY=build/libflashfftconv.so \
#     julia --project=bindings/julia docs/examples/julia/gated_causal.jl
using FlashFFTConv
using FlashFFTConv: FFC_FP32, FFC_CPU

# Julia arrays are column-major: the C API's (B, H, L) is a Julia (L, H, B) array.
L, H, B = 1000, 4, 2
u = Float32[sin(0.01f0 * i) for i in 0:L*H*B-1]
u = reshape(u, L, H, B)
in_gate = 1 .+ 0.5f0 .* sin.(0.003f0 .* u)
out_gate = 0.5f0 .+ 0.5f0 .* abs.(cos.(0.007f0 .* u))
k = Float32[exp(-s / (50 * h)) / 20 for s in 0:L-1, h in 1:H]   # (K, H)

println("libflashfftconv ", FlashFFTConv.version(), ": ", build_info())
plan = Plan(2048; dtype=FFC_FP32, backend=FFC_CPU)               # N = 2048 >= L + K - 1: causal
println(describe(plan))
y = similar(u)
forward!(plan, Shape(B, H, L, L), y, u, k; in_gate=in_gate, out_gate=out_gate)

# Direct causal convolution for one (channel, batch) column.
h, b = 3, 2
v = Float64.(in_gate[:, h, b]) .* u[:, h, b]
z = [sum(k[s+1, h] * v[t-s+1] for s in 0:t) for t in 0:L-1]
err = maximum(abs.(out_gate[:, h, b] .* z .- y[:, h, b]))
println("max |y - direct| = ", err)
@assert err < 1e-4

# Gradient of sum(y) with respect to k only.
g = backward!(plan, Shape(B, H, L, L), ones(Float32, L, H, B), u, k;
              in_gate=in_gate, out_gate=out_gate, dk=zeros(Float32, L, H))
println("dk[1:3, 1] = ", g.dk[1:3, 1])
close(plan)
println("ok")
