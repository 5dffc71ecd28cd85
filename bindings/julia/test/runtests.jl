# Tests against the CPU backend: FLASHFFTCONV_LIBRARY=/path/to/libflashfftconv.so julia --project -e 'using Pkg; Pkg.test()'
using Test
using FlashFFTConv
using FlashFFTConv: FFC_FP32, FFC_FP16, FFC_BF16, FFC_CPU, FFC_CUDA, Shape

# z[t] = Σ_s k[s] x[(t - s) mod n] for t < L, with x zero beyond L (Float64).
function direct(u::AbstractArray, k::AbstractMatrix, n)
    L, H, B = size(u)
    K = size(k, 1)
    z = zeros(Float64, L, H, B)
    for b in 1:B, h in 1:H, t in 0:L-1, s in 0:K-1
        i = mod(t - s, n)
        i < L && (z[t+1, h, b] += k[s+1, h] * u[i+1, h, b])
    end
    z
end
rel(x, r) = sqrt(sum(abs2, Float64.(x) .- r) / sum(abs2, r))

@testset "FlashFFTConv" begin
    @test occursin("\"version_number\":$(FlashFFTConv.version_number())", build_info())

    L, H, B, K, N = 100, 3, 2, 100, 256
    u, ig, og = randn(Float32, L, H, B), randn(Float32, L, H, B), randn(Float32, L, H, B)
    k = randn(Float32, K, H) ./ 10
    ref = Float64.(og) .* direct(Float64.(ig) .* u, k, N)

    @testset "forward Float32" begin
        plan = Plan(N; dtype=FFC_FP32, backend=FFC_CPU)
        y = similar(u)
        forward!(plan, Shape(B, H, L, K), y, u, k; in_gate=ig, out_gate=og)
        @test rel(y, ref) < 2e-6
        @test info(plan).backend == FFC_CPU
        @test prod(info(plan).factors) == N
        @test !isempty(describe(plan))
        close(plan)
        close(plan)  # idempotent
        @test_throws FlashFFTConvError workspace_size(plan, Shape(B, H, L, K))
    end

    @testset "forward Float16 and BF16" begin
        u16 = Float16.(u)
        y = fftconv(u16, k)
        r = direct(Float64.(u16), k, N)
        @test rel(y, r) <= 2 * rel(Float16.(r), r)
        ub = BF16.(u)
        plan = Plan(N; dtype=FFC_BF16, backend=FFC_CPU)
        yb = similar(ub)
        forward!(plan, Shape(B, H, L, K), yb, ub, k)
        rb = direct(Float64.(Float32.(ub)), k, N)
        @test rel(Float32.(yb), rb) <= 2 * rel(Float32.(BF16.(Float32.(rb))), rb)
    end

    @testset "backward" begin
        plan = Plan(N; dtype=FFC_FP32, backend=FFC_CPU)
        dy = ones(Float32, L, H, B)
        dk = zeros(Float32, K, H)
        g = backward!(plan, Shape(B, H, L, K), dy, u, k; dk=dk)
        # dk[s, h] = Σ_b Σ_t dy[t] u[t - s]: the gradient of sum(y) without gates
        rdk = [sum(Float64(u[t-s+1, h, b]) for b in 1:B for t in s:L-1; init=0.0) for s in 0:K-1, h in 1:H]
        @test rel(g.dk, rdk) < 2e-6
        @test g.du === nothing
    end

    @testset "errors" begin
        e = try
            Plan(1000; backend=FFC_CPU)
        catch err
            err
        end
        @test e isa FlashFFTConvError && e.status == 1002 && occursin("1000", e.message)
        plan = Plan(256; dtype=FFC_FP32, backend=FFC_CPU)
        e = try
            workspace_size(plan, Shape(1, 1, 300, 10))
        catch err
            err
        end
        @test e isa FlashFFTConvError && e.status == 1003 && occursin("seq_len", e.message)
        @test_throws FlashFFTConvError forward!(plan, Shape(1, 1, 10, 10), zeros(Float16, 10), zeros(Float16, 10), zeros(Float32, 10))
        if !FlashFFTConv.backend_available(FFC_CUDA)
            @test_throws FlashFFTConvError Plan(1024; backend=FFC_CUDA)
        end
    end

    @testset "force_kernel" begin
        # Descriptor version 2: force_kernel in version 1's reserved[0] slot, size unchanged.
        @test sizeof(FlashFFTConv.PlanDescC) == 128
        @test fieldoffset(FlashFFTConv.PlanDescC, findfirst(==(:force_kernel), fieldnames(FlashFFTConv.PlanDescC))) == 80
        # The CPU backend has no kernel variants: a clear NO_KERNEL (2002).
        e = try
            Plan(1024; dtype=FFC_FP32, backend=FFC_CPU, force_kernel="fused_n1024_4x16x16")
        catch err
            err
        end
        @test e isa FlashFFTConvError && e.status == 2002 && occursin("CPU backend", e.message)
        # Malformed names: INVALID_FLAGS (1010).
        for bad in ("", "fused\0n1024", "x"^300)
            e = try
                Plan(1024; backend=FFC_CPU, force_kernel=bad)
            catch err
                err
            end
            @test e isa FlashFFTConvError && e.status == 1010
        end
        plan = Plan(1024; dtype=FFC_FP32, backend=FFC_CPU, force_kernel=nothing, force_factors=[32, 32])
        @test info(plan).factors == [32, 32]
        close(plan)
    end
end
