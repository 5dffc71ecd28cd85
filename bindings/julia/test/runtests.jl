# Tests against the CPU backend: FLASHFFTCONV_LIBRARY=/path/to/libflashfftconv.so julia --project -e 'using Pkg; Pkg.test()'
using Test
using FlashFFTConv
using FlashFFTConv: FFC_FP32, FFC_FP16, FFC_BF16, FFC_CPU, FFC_CUDA, Shape, FFC_BHL, FFC_BLH

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

# x ↦ IDFT_n(M · DFT_n(x)) with M[f] = mask[mod(f, G) + 1] != 0, by the direct DFT
# (Float64). With a symmetric mask it is real and symmetric: it gives the masked
# filter k' = P k and, applied to the gradient with respect to k', the masked dk.
function mask_projection(x::AbstractVector, mask::AbstractVector)
    n, G = length(x), length(mask)
    out = zeros(Float64, n)
    for f in 0:n-1
        mask[mod(f, G)+1] == 0 && continue
        X = sum(Float64(x[t+1]) * cis(-2π * f * t / n) for t in 0:n-1)
        for t in 0:n-1
            out[t+1] += real(X * cis(2π * f * t / n)) / n
        end
    end
    out
end

# Short depthwise convolution, directly from the header's formulas, in Float64.
# x is (L, H, B) for FFC_BHL, (H, L, B) for FFC_BLH; w is (K, H).
tobhl(a, layout) = layout == FFC_BHL ? a : permutedims(a, (2, 1, 3))
function conv1d_direct(x, w, bias, left, right, layout)
    xb = tobhl(x, layout)
    L, H, B = size(xb)
    K = size(w, 1)
    Lo = L + left + right - K + 1
    y = zeros(Float64, Lo, H, B)
    for b in 1:B, h in 1:H, t in 0:Lo-1
        acc = bias === nothing ? 0.0 : Float64(bias[h])
        for j in 0:K-1
            s = t + j - left
            0 <= s < L && (acc += Float64(w[j+1, h]) * Float64(xb[s+1, h, b]))
        end
        y[t+1, h, b] = acc
    end
    tobhl(y, layout)
end
function conv1d_direct_backward(dy, x, w, left, right, layout)
    xb, dyb = tobhl(x, layout), tobhl(dy, layout)
    L, H, B = size(xb)
    K, Lo = size(w, 1), size(dyb, 1)
    dx, dw, db = zeros(Float64, L, H, B), zeros(Float64, K, H), zeros(Float64, H)
    for b in 1:B, h in 1:H
        for t in 0:Lo-1
            g = Float64(dyb[t+1, h, b])
            db[h] += g
            for j in 0:K-1
                s = t + j - left
                if 0 <= s < L
                    dw[j+1, h] += g * Float64(xb[s+1, h, b])
                    dx[s+1, h, b] += g * Float64(w[j+1, h])
                end
            end
        end
    end
    tobhl(dx, layout), dw, db
end

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

    @testset "version 0.5" begin
        @test FlashFFTConv.version_number() ÷ 100 == 5
        @test startswith(version(), "0.5.")
    end

    @testset "partial convolution" begin
        # L > N: overlap-save windows. The reference is the direct definition with a
        # circular size L + K, which cannot wrap: the causal linear convolution.
        for (B, H, L, K) in ((3, 2, 1000, 1), (3, 2, 1000, 5), (1, 2, 2049, 128))
            up, igp, ogp = randn(Float32, L, H, B), randn(Float32, L, H, B), randn(Float32, L, H, B)
            kp = randn(Float32, K, H) ./ Float32(sqrt(K))
            plan = Plan(256; dtype=FFC_FP32, backend=FFC_CPU, partial=true)
            @test plan.partial
            s = Shape(B, H, L, K)
            y = forward!(plan, s, similar(up), up, kp; in_gate=igp, out_gate=ogp)
            r = Float64.(ogp) .* direct(Float64.(igp) .* up, kp, L + K)
            @test rel(y, r) < 2e-6
            dy = randn(Float32, L, H, B)
            # Gradients of <dy, y> without gates, from the definitions.
            rdu = zeros(Float64, L, H, B)
            rdk = zeros(Float64, K, H)
            for b in 1:B, h in 1:H, t in 0:L-1, j in 0:min(K - 1, t)
                rdu[t-j+1, h, b] += Float64(dy[t+1, h, b]) * kp[j+1, h]
                rdk[j+1, h] += Float64(dy[t+1, h, b]) * up[t-j+1, h, b]
            end
            g = backward!(plan, s, dy, up, kp; dk=zeros(Float32, K, H), du=similar(up))
            @test rel(g.du, rdu) < 2e-6
            @test rel(g.dk, rdk) < 2e-6
            u16 = Float16.(up)
            y16 = fftconv(u16, kp; fft_size=256, partial=true)
            r16 = direct(Float64.(u16), kp, L + K)
            @test rel(y16, r16) <= 2 * rel(Float16.(r16), r16)
            close(plan)
        end
        @test FlashFFTConv.default_fft_size(100000, 4096; partial=true) == 16384
        @test FlashFFTConv.default_fft_size(100, 64; partial=true) == 256
        @test FlashFFTConv.default_fft_size(500, 1000; partial=true) == 2048
        @test FlashFFTConv.default_fft_size(100000, 4096) == 131072
        @test_throws ArgumentError FlashFFTConv.default_fft_size(10, 2^21 + 1; partial=true)
        # K > N/2 while the call would need windows: INVALID_SHAPE (1003).
        plan = Plan(256; dtype=FFC_FP32, backend=FFC_CPU, partial=true)
        e = try
            workspace_size(plan, Shape(1, 1, 129, 129))
        catch err
            err
        end
        @test e isa FlashFFTConvError && e.status == 1003 && occursin("N/2", e.message)
        @test workspace_size(plan, Shape(1, 1, 128, 129)) >= 0  # L + K - 1 = N: no windows
        @test occursin("FFC_PLAN_PARTIAL", describe(plan))
        close(plan)
        @test !Plan(256; dtype=FFC_FP32, backend=FFC_CPU).partial
    end

    @testset "frequency-sparse plans" begin
        # Descriptor version 3: freq_mask and freq_mask_len in version 2's reserved[0] and [1].
        C = FlashFFTConv.PlanDescC
        @test sizeof(C) == 128 && FlashFFTConv.FFC_PLAN_DESC_VERSION == 3
        @test fieldoffset(C, findfirst(==(:freq_mask), fieldnames(C))) == 88
        @test fieldoffset(C, findfirst(==(:freq_mask_len), fieldnames(C))) == 96
        @test fieldoffset(C, findfirst(==(:reserved), fieldnames(C))) == 104
        @test freq_block_mask(16, 4) == UInt8[1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
        @test freq_block_mask(1, 1) == UInt8[1] && freq_block_mask(8, 5) == ones(UInt8, 8)
        for G in (1, 2, 4, 8, 64), kept in 1:G÷2+1
            m = freq_block_mask(G, kept)
            @test all(m[j+1] == m[mod(G - j, G)+1] for j in 0:G-1)
            @test sum(m) == min(2kept - 1, G)
        end
        @test_throws ArgumentError freq_block_mask(12, 1)
        @test_throws ArgumentError freq_block_mask(16, 0)
        @test_throws ArgumentError freq_block_mask(16, 10)
        # The descriptor copies the mask (as 0/1) and the plan keeps a copy too.
        m = [1, 0, 0, 256]
        d = PlanDesc(256; freq_mask=m)
        m[1] = 0
        @test d.freq_mask == UInt8[1, 0, 0, 1]
        @test PlanDesc(256).freq_mask === nothing

        B, H, L, K, N = 2, 2, 200, 57, 256
        for mask in (freq_block_mask(16, 4), freq_block_mask(N, 20), [1], [true, false], UInt8[1, 0, 1, 1, 0, 1, 1, 0])
            u, ig, og = randn(Float32, L, H, B), randn(Float32, L, H, B), randn(Float32, L, H, B)
            k = randn(Float32, K, H) ./ Float32(sqrt(K))
            # The masked filter k' (length N per channel): the plain convolution with it is the masked one.
            kp = zeros(Float64, N, H)
            for h in 1:H
                kp[:, h] = mask_projection([Float64.(k[:, h]); zeros(N - K)], mask)
            end
            plan = Plan(N; dtype=FFC_FP32, backend=FFC_CPU, freq_mask=mask)
            @test plan.freq_mask == UInt8[x != 0 ? 1 : 0 for x in mask] && !plan.partial
            s = Shape(B, H, L, K)
            y = forward!(plan, s, similar(u), u, k; in_gate=ig, out_gate=og)
            @test rel(y, Float64.(og) .* direct(Float64.(ig) .* u, kp, N)) < 2e-6
            # Backward without gates: du with k', dk the projection of k''s gradient, cut to K.
            dy = randn(Float32, L, H, B)
            rdu, rdkp = zeros(Float64, L, H, B), zeros(Float64, N, H)
            for b in 1:B, h in 1:H, t in 0:L-1, j in 0:N-1
                i = mod(t - j, N)
                if i < L
                    rdu[i+1, h, b] += Float64(dy[t+1, h, b]) * kp[j+1, h]
                    rdkp[j+1, h] += Float64(dy[t+1, h, b]) * Float64(u[i+1, h, b])
                end
            end
            rdk = zeros(Float64, K, H)
            for h in 1:H
                rdk[:, h] = mask_projection(rdkp[:, h], mask)[1:K]
            end
            g = backward!(plan, s, dy, u, k; dk=zeros(Float32, K, H), du=similar(u))
            @test rel(g.du, rdu) < 2e-6
            @test rel(g.dk, rdk) < 2e-6
            close(plan)
            y2 = fftconv(u, k; in_gate=ig, out_gate=og, freq_mask=mask)  # N = 256 by default
            @test rel(y2, Float64.(og) .* direct(Float64.(ig) .* u, kp, N)) < 2e-6
        end
        # The library's checks: asymmetric, G not a power of two, G > N: INVALID_ARGUMENT
        # (1000); with partial=true: NOT_SUPPORTED (2000).
        for (mask, status) in (([1, 1, 0, 0], 1000), (ones(Int, 6), 1000), (ones(Int, 512), 1000))
            e = try
                Plan(256; dtype=FFC_FP32, backend=FFC_CPU, freq_mask=mask)
            catch err
                err
            end
            @test e isa FlashFFTConvError && e.status == status
        end
        e = try
            Plan(256; dtype=FFC_FP32, backend=FFC_CPU, partial=true, freq_mask=[1])
        catch err
            err
        end
        @test e isa FlashFFTConvError && e.status == 2000
        # The bindings' own: an empty mask (nothing is the dense plan), non-integers.
        @test_throws FlashFFTConvError Plan(256; backend=FFC_CPU, freq_mask=Int[])
        @test_throws ArgumentError Plan(256; backend=FFC_CPU, freq_mask=[0.5, 0.5])
    end

    @testset "depthwise conv1d" begin
        @test sizeof(FlashFFTConv.Conv1dDescC) == 96
        @test sizeof(Conv1dShape) == 24
        @test FlashFFTConv.conv1d_padding(:same, 4) == (1, 2)
        @test FlashFFTConv.conv1d_padding("causal", 4) == (3, 0)
        @test FlashFFTConv.conv1d_padding(2, 4) == (2, 2)
        # (K, padding, L)
        for layout in (FFC_BHL, FFC_BLH), (K, pad, L) in ((1, 0, 20), (3, :causal, 40), (4, :same, 33),
                                                          (7, (6, 6), 9), (128, :causal, 130))
            B, H = 2, 3
            left, right = FlashFFTConv.conv1d_padding(pad, K)
            xb = randn(Float32, L, H, B)
            x = layout == FFC_BHL ? xb : permutedims(xb, (2, 1, 3))
            w = randn(Float32, K, H) ./ Float32(sqrt(K))
            bias = randn(Float32, H)
            y = depthwise_conv1d(x, w; bias=bias, padding=pad, layout=layout)
            r = conv1d_direct(x, w, bias, left, right, layout)
            @test size(y) == size(r)
            @test rel(y, r) < 2e-6
            x16 = Float16.(x)
            y16 = depthwise_conv1d(x16, w; padding=pad, layout=layout)
            r16 = conv1d_direct(x16, w, nothing, left, right, layout)
            @test rel(y16, r16) <= 2 * rel(Float16.(r16), r16)

            plan = Conv1dPlan(K; padding=pad, dtype=FFC_FP32, layout=layout, backend=FFC_CPU)
            s = Conv1dShape(B, H, L)
            @test output_length(plan, L) == L + left + right - K + 1
            dy = randn(Float32, size(r))
            g = backward!(plan, s, dy, x, w; dx=similar(x), dweight=zeros(Float32, K, H), dbias=zeros(Float32, H))
            rdx, rdw, rdb = conv1d_direct_backward(dy, x, w, left, right, layout)
            @test rel(g.dx, rdx) < 2e-6
            @test rel(g.dweight, rdw) < 1e-5
            @test rel(g.dbias, rdb) < 1e-5
            close(plan)
        end
        # errors: K > 128 and a padding side > K - 1 (INVALID_ARGUMENT), L_out < 1 (INVALID_SHAPE)
        for (K, pad) in ((129, 0), (3, 3))
            e = try
                Conv1dPlan(K; padding=pad, dtype=FFC_FP32, backend=FFC_CPU)
            catch err
                err
            end
            @test e isa FlashFFTConvError && e.status == 1000 && !isempty(e.message)
        end
        plan = Conv1dPlan(5; padding=0, dtype=FFC_FP32, backend=FFC_CPU)
        e = try
            output_length(plan, 4)
        catch err
            err
        end
        @test e isa FlashFFTConvError && e.status == 1003
        @test_throws FlashFFTConvError forward!(plan, Conv1dShape(1, 1, 10), zeros(Float16, 6), zeros(Float16, 10),
                                                zeros(Float32, 5))
        close(plan)
        close(plan)  # idempotent
        @test_throws FlashFFTConvError output_length(plan, 10)
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
