"""
    FlashFFTConv

Julia bindings (ccall) for libflashfftconv: long depthwise FFT convolutions,

    v = in_gate .* u;   z[t] = Σ_s k[s] v[(t - s) mod N], t < L;   y = out_gate .* z

on the library's CPU backend (Julia `Array`s) or its CUDA backend (raw device
pointers plus a stream, so CUDA.jl is not needed to load this package).

Memory layout: the C API's row-major (B, H, L) tensors are Julia's column-major
arrays of size (L, H, B); k, (H, K) in C, is a (K, H) `Matrix{Float32}`.

The API mirrors the Rust crate: `Plan`, `PlanDesc`, `Shape`, `DType`, `Backend`,
`FlashFFTConvError(status, message)`, `forward!`, `backward!`. Plans may be partial
(`partial=true`, library 0.3) or frequency-sparse (`freq_mask=m`, library 0.4: the
filter's spectrum keeps bin f only where `m[mod(f, length(m)) + 1] != 0`; see
`freq_block_mask`).

Short depthwise convolutions (PyTorch's `nn.Conv1d(H, H, K, groups=H)`, 1 to 128
taps, computed directly) have their own plan, `Conv1dPlan`, with `Conv1dShape`
and methods of the same `forward!` / `backward!` / `forward_raw!` /
`backward_raw!` functions; `depthwise_conv1d` is the one-off form. Their
(B, H, L) tensors are (L, H, B) Julia arrays in the `FFC_BHL` layout and
(H, L, B) arrays in the `FFC_BLH` layout (C's (B, L, H)); the weight is (K, H).
"""
module FlashFFTConv

using Libdl

export Plan, PlanDesc, Shape, PlanInfo, FlashFFTConvError, BF16
export forward!, backward!, forward_raw!, backward_raw!, fftconv
export workspace_size, spectrum_size, describe, info, build_info, version, version_number, freq_block_mask
export Conv1dPlan, Conv1dShape, output_length, depthwise_conv1d

# ---------------------------------------------------------------------------------
# Loading: $FLASHFFTCONV_LIBRARY, else the system loader ("libflashfftconv").
# Symbols are resolved at run time (not at precompile time), so the path can be
# chosen per session.
# ---------------------------------------------------------------------------------

const _handle = Ref{Ptr{Cvoid}}(C_NULL)
const _syms = Dict{Symbol,Ptr{Cvoid}}()
const _lock = ReentrantLock()

# The ABI these bindings mirror: same major, and (pre-1.0) the same minor version.
const EXPECTED_MAJOR = 0
const EXPECTED_MINOR = 5

function _lib()
    _handle[] != C_NULL && return _handle[]
    lock(_lock) do
        if _handle[] == C_NULL
            path = get(ENV, "FLASHFFTCONV_LIBRARY", "libflashfftconv")
            h = Libdl.dlopen(path; throw_error=false)
            h === nothing && error("could not load libflashfftconv from \"$path\"; set FLASHFFTCONV_LIBRARY to the .so file")
            _handle[] = h
            v = Int(ccall(Libdl.dlsym(h, :ffc_version_number), Cuint, ()))
            major, minor = v ÷ 10000, (v ÷ 100) % 100
            ok = major == EXPECTED_MAJOR && (major == 0 ? minor == EXPECTED_MINOR : minor >= EXPECTED_MINOR)
            if !ok
                _handle[] = C_NULL
                error("$path is libflashfftconv $major.$minor; these bindings need $EXPECTED_MAJOR.$EXPECTED_MINOR")
            end
        end
    end
    return _handle[]
end

function _fn(name::Symbol)
    p = get(_syms, name, C_NULL)
    p != C_NULL && return p
    lock(_lock) do
        get!(() -> Libdl.dlsym(_lib(), name), _syms, name)
    end
end

# ---------------------------------------------------------------------------------
# Types mirroring the header (isbits structs: Julia lays them out like C)
# ---------------------------------------------------------------------------------

"""`ffc_dtype_t`: element type of u, the gates, y and their gradients (k is always Float32)."""
@enum DType::Int32 FFC_FP32 = 0 FFC_FP16 = 1 FFC_BF16 = 2

"""`ffc_backend_t`."""
@enum Backend::Int32 FFC_AUTO = 0 FFC_CPU = 1 FFC_CUDA = 2

const FFC_SUCCESS = Int32(0)
const FFC_ERROR_INVALID_ARGUMENT = Int32(1000)
const FFC_ERROR_INVALID_SHAPE = Int32(1003)
const FFC_ERROR_INVALID_DTYPE = Int32(1004)
const FFC_ERROR_BUFFER_TOO_SMALL = Int32(1007)
const FFC_ERROR_INVALID_FLAGS = Int32(1010)

# Plan flags (ffc_plan_desc_t.flags, bitwise OR); unknown bits are FFC_ERROR_INVALID_FLAGS.
const FFC_PLAN_DEFAULT = UInt32(0)
"""
`FFC_PLAN_PARTIAL` (library 0.3): the plan computes the causal linear convolution
z[t] = Σ_{s<K} k[s] v[t - s] (v zero before t = 0) for any seq_len, L > N included,
by overlap-save windows of N when L + K - 1 > N (which needs K ≤ N/2). y may not be u.
"""
const FFC_PLAN_PARTIAL = UInt32(1)

"""
    BF16(bits::UInt16)

A bfloat16 value stored as its bits (Base has no bfloat16). Convert with
`BF16(x::Float32)` (round to nearest even) and `Float32(b)`; BFloat16s.jl values
can be `reinterpret`ed to and from it.
"""
struct BF16
    bits::UInt16
end
function BF16(x::Float32)
    isnan(x) && return BF16(UInt16(reinterpret(UInt32, x) >> 16) | 0x0040)
    b = reinterpret(UInt32, x)
    BF16(UInt16((b + 0x00007fff + ((b >> 16) & 0x1)) >> 16))
end
BF16(x::Real) = BF16(Float32(x))
Base.Float32(b::BF16) = reinterpret(Float32, UInt32(b.bits) << 16)
Base.Float64(b::BF16) = Float64(Float32(b))
Base.zero(::Type{BF16}) = BF16(0x0000)

_dtype(::Type{Float32}) = FFC_FP32
_dtype(::Type{Float16}) = FFC_FP16
_dtype(::Type{BF16}) = FFC_BF16

"""Problem shape (B, H, L, K): u, gates, y are (L, H, B) arrays in Julia; k is (K, H)."""
struct Shape
    batch::Int64
    channels::Int64
    seq_len::Int64
    kernel_len::Int64
end
signal_length(s::Shape) = Int(s.batch * s.channels * s.seq_len)
kernel_length(s::Shape) = Int(s.channels * s.kernel_len)

const FFC_MAX_FACTORS = 8

struct PlanDescC
    struct_size::Csize_t
    magic::UInt32
    version::UInt32
    fft_size::UInt64
    dtype::Int32
    backend::Int32
    device::Int32
    flags::UInt32
    force_factors::NTuple{8,UInt32}
    cpu_threads::Int32
    reserved0::UInt32
    force_kernel::Ptr{UInt8}     # descriptor version 2 (version 1's reserved[0] slot); C_NULL: none
    freq_mask::Ptr{UInt8}        # descriptor version 3 (version 2's reserved[0] slot); C_NULL: dense
    freq_mask_len::UInt32        # G, entries of freq_mask (version 2's reserved[1] slot); 0 with C_NULL
    reserved1::UInt32
    reserved::NTuple{3,UInt64}
end

struct PlanInfoC
    struct_size::Csize_t
    magic::UInt32
    version::UInt32
    fft_size::UInt64
    dtype::Int32
    backend::Int32
    device::Int32
    num_factors::Int32
    factors::NTuple{8,UInt32}
    fused::Int32
    reserved0::UInt32
    predicted_us_per_sequence::Float64
    kernel_name::NTuple{64,UInt8}
end

# The header's sizes on LP64 (the library also rejects any other struct_size).
@assert sizeof(PlanDescC) == 128
@assert fieldoffset(PlanDescC, findfirst(==(:force_kernel), fieldnames(PlanDescC))) == 80
@assert fieldoffset(PlanDescC, findfirst(==(:freq_mask), fieldnames(PlanDescC))) == 88
@assert fieldoffset(PlanDescC, findfirst(==(:freq_mask_len), fieldnames(PlanDescC))) == 96
@assert fieldoffset(PlanDescC, findfirst(==(:reserved1), fieldnames(PlanDescC))) == 100
@assert fieldoffset(PlanDescC, findfirst(==(:reserved), fieldnames(PlanDescC))) == 104
@assert sizeof(PlanInfoC) == 152
@assert sizeof(Shape) == 32

# 2 added force_kernel, 3 added freq_mask and freq_mask_len (each in reserved slots; same size).
const FFC_PLAN_DESC_VERSION = UInt32(3)
const FFC_MAX_FREQ_MASK_LEN = 4194304  # one entry per spectrum bin of the largest N

"""
    PlanDesc(fft_size; dtype=FFC_FP16, backend=FFC_AUTO, device=-1, cpu_threads=0, force_factors=UInt32[],
             force_kernel=nothing, partial=false, freq_mask=nothing)

A plan descriptor (the keyword form of the Rust builder). `force_kernel` names one
compiled candidate as `describe(plan)` lists it in the candidate table's kernel
column (CUDA backend only; the CPU backend refuses any name). `partial=true` sets
`FFC_PLAN_PARTIAL`: the causal linear convolution of any seq_len (see there).

`freq_mask` (library 0.4) makes the plan frequency-sparse: a vector `m` of G
integers or bools (copied, as 0/1 `UInt8`s). Bin f of the filter's N-point
spectrum (0 ≤ f < N) is kept when `m[mod(f, G) + 1] != 0` and zeroed otherwise,
so every call computes `z = IFFT_N(FFT_N(v) · FFT_N(k) · M)[t < L]` and backward
its exact gradient. G must be a power of two from 1 to N and the mask symmetric
(entries j and (G − j) mod G, 0-based, both zero or both nonzero), else the
library's INVALID_ARGUMENT (1000); not with `partial=true` (NOT_SUPPORTED, 2000).
`nothing` is the dense convolution; see `freq_block_mask`.
"""
struct PlanDesc
    fft_size::UInt64
    dtype::DType
    backend::Backend
    device::Int32
    cpu_threads::Int32
    force_factors::Vector{UInt32}
    force_kernel::Union{Nothing,String}
    partial::Bool
    freq_mask::Union{Nothing,Vector{UInt8}}
end
PlanDesc(fft_size::Integer; dtype::DType=FFC_FP16, backend::Backend=FFC_AUTO, device::Integer=-1,
         cpu_threads::Integer=0, force_factors=UInt32[], force_kernel::Union{Nothing,AbstractString}=nothing,
         partial::Bool=false, freq_mask::Union{Nothing,AbstractVector}=nothing) =
    PlanDesc(UInt64(fft_size), dtype, backend, Int32(device), Int32(cpu_threads), UInt32.(collect(force_factors)),
             force_kernel === nothing ? nothing : String(force_kernel), partial, _freq_mask(freq_mask))

# A frequency mask as the library reads it: a new Vector{UInt8} of 0 and 1 (nonzero
# is 1: a plain conversion would refuse 256, and a truncation would turn it into 0).
_freq_mask(::Nothing) = nothing
function _freq_mask(m::AbstractVector)
    eltype(m) <: Union{Bool,Integer} || all(x -> x isa Union{Bool,Integer}, m) ||
        throw(ArgumentError("freq_mask must hold integers or bools, not $(eltype(m))"))
    # Empty is refused rather than read as "no mask" (use nothing for that); to
    # the C API, G = 0 is not a power of two.
    isempty(m) && throw(FlashFFTConvError(FFC_ERROR_INVALID_ARGUMENT,
                                          "freq_mask is empty: it needs G entries, G a power of two from 1 to N"))
    length(m) <= FFC_MAX_FREQ_MASK_LEN || throw(FlashFFTConvError(FFC_ERROR_INVALID_ARGUMENT,
        "freq_mask has $(length(m)) entries, more than the largest FFT size $FFC_MAX_FREQ_MASK_LEN"))
    UInt8[x != 0 ? 0x01 : 0x00 for x in m]
end

"""
    freq_block_mask(blocks, kept) -> Vector{UInt8}

A symmetric frequency mask of `blocks` entries keeping the residues nearest 0 on
either side: entry j (0-based, at index j + 1) is 1 when min(j, blocks − j) < kept,
else 0, so min(2kept − 1, blocks) ones. As `freq_mask` (G = blocks) it keeps bin f
exactly when f mod G lies within kept − 1 of 0, circularly; with G the outer
Monarch factor M of N = M·N_in, each residue is one row of the spectrum, kept or
dropped whole; with G = N it is a low-pass filter. `blocks` must be a power of
two and `kept` in 1:blocks÷2+1 (else `ArgumentError`).
"""
function freq_block_mask(blocks::Integer, kept::Integer)
    (blocks >= 1 && ispow2(blocks)) || throw(ArgumentError("blocks = $blocks is not a power of two"))
    1 <= kept <= blocks ÷ 2 + 1 ||
        throw(ArgumentError("kept = $kept is outside 1:$(blocks ÷ 2 + 1) (blocks ÷ 2 + 1 for blocks = $blocks)"))
    UInt8[min(j, blocks - j) < kept ? 0x01 : 0x00 for j in 0:blocks-1]
end

# The C descriptor. Its force_kernel and freq_mask point into d.force_kernel and
# d.freq_mask: the caller keeps both rooted (GC.@preserve) for as long as the
# descriptor is used (the library reads them during ffc_plan_create only).
function _cdesc(d::PlanDesc)
    f = zeros(UInt32, FFC_MAX_FACTORS)
    f[1:length(d.force_factors)] .= d.force_factors
    name = d.force_kernel === nothing ? Ptr{UInt8}(C_NULL) : pointer(d.force_kernel)
    mask = d.freq_mask === nothing ? Ptr{UInt8}(C_NULL) : pointer(d.freq_mask)
    mask_len = d.freq_mask === nothing ? UInt32(0) : UInt32(length(d.freq_mask))
    flags = d.partial ? FFC_PLAN_PARTIAL : FFC_PLAN_DEFAULT
    PlanDescC(sizeof(PlanDescC), 0x46464344, FFC_PLAN_DESC_VERSION, d.fft_size, Int32(d.dtype), Int32(d.backend),
              d.device, flags, Tuple(f), d.cpu_threads, 0, name, mask, mask_len, 0, ntuple(_ -> UInt64(0), 3))
end

# ---------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------

"""A failure reported by the library: its status code and its detail message."""
struct FlashFFTConvError <: Exception
    status::Int32
    message::String
end
function Base.showerror(io::IO, e::FlashFFTConvError)
    desc = unsafe_string(ccall(_fn(:ffc_status_string), Cstring, (Cint,), e.status))
    print(io, "FlashFFTConvError: ", desc, " (", e.status, "): ", e.message)
end

"""The calling thread's last error message (read right after the failure: it is thread-local)."""
function last_error_message()
    n = ccall(_fn(:ffc_last_error_message), Csize_t, (Ptr{UInt8}, Csize_t), C_NULL, 0)
    buf = Vector{UInt8}(undef, n + 1)
    ccall(_fn(:ffc_last_error_message), Csize_t, (Ptr{UInt8}, Csize_t), buf, n + 1)
    String(buf[1:n])
end

# Julia tasks may migrate between OS threads only at yield points; there is none
# between the ccall and this read, so the thread-local message is the right one.
_check(st::Integer) = st == FFC_SUCCESS ? nothing : throw(FlashFFTConvError(Int32(st), last_error_message()))

# ---------------------------------------------------------------------------------
# Library information
# ---------------------------------------------------------------------------------

version_number() = Int(ccall(_fn(:ffc_version_number), Cuint, ()))
version() = unsafe_string(ccall(_fn(:ffc_version_string), Cstring, ()))
"""Build information as a JSON string (version, CUDA on/off, compiled SM list)."""
build_info() = unsafe_string(ccall(_fn(:ffc_build_info), Cstring, ()))
backend_available(b::Backend) = ccall(_fn(:ffc_backend_available), Cint, (Cint,), Int32(b)) != 0

# ---------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------

"""
    Plan(desc::PlanDesc)
    Plan(fft_size; dtype, backend, ...)

An owned plan. A finalizer destroys it; `close(plan)` destroys it now. Plans are
immutable: several tasks may execute on one plan at once, each with its own
workspace and outputs. `plan.partial` tells whether it was made with
`partial=true` (`FFC_PLAN_PARTIAL`), `plan.freq_mask` its frequency mask (0/1
`UInt8`s, a copy of the descriptor's) or `nothing`.
"""
# Resolved before the first plan exists, so that finalizers (which must not take
# locks or switch tasks) only read it.
const _destroy_fn = Ref{Ptr{Cvoid}}(C_NULL)

mutable struct Plan
    handle::Ptr{Cvoid}
    dtype::DType
    backend::Backend
    partial::Bool
    freq_mask::Union{Nothing,Vector{UInt8}}
    function Plan(desc::PlanDesc)
        length(desc.force_factors) <= FFC_MAX_FACTORS ||
            throw(FlashFFTConvError(FFC_ERROR_INVALID_FLAGS, "at most $FFC_MAX_FACTORS forced factors"))
        desc.force_kernel === nothing || !Base.containsnul(desc.force_kernel) ||
            throw(FlashFFTConvError(FFC_ERROR_INVALID_FLAGS, "force_kernel contains a NUL character"))
        _destroy_fn[] == C_NULL && (_destroy_fn[] = _fn(:ffc_plan_destroy))
        h = Ref{Ptr{Cvoid}}(C_NULL)
        name, mask = desc.force_kernel, desc.freq_mask
        GC.@preserve name mask begin  # the C descriptor points into this string and this vector
            _check(ccall(_fn(:ffc_plan_create), Cint, (Ref{Ptr{Cvoid}}, Ref{PlanDescC}), h, _cdesc(desc)))
        end
        p = new(h[], FFC_FP16, FFC_CPU, desc.partial, mask === nothing ? nothing : copy(mask))
        finalizer(close, p)
        i = info(p)
        p.dtype, p.backend = i.dtype, i.backend
        return p
    end
end
Plan(fft_size::Integer; kw...) = Plan(PlanDesc(fft_size; kw...))

function Base.close(p::Plan)
    if p.handle != C_NULL
        h, p.handle = p.handle, C_NULL
        ccall(_destroy_fn[], Cvoid, (Ptr{Cvoid},), h)
    end
    return nothing
end

_h(p::Plan) = p.handle == C_NULL ? throw(FlashFFTConvError(Int32(1001), "the plan has been closed")) : p.handle

"""What a plan resolved to."""
struct PlanInfo
    fft_size::Int
    dtype::DType
    backend::Backend
    device::Int
    factors::Vector{Int}
    fused::Bool
    predicted_us_per_sequence::Float64
    kernel_name::String
end

function info(p::Plan)
    r = Ref(PlanInfoC(sizeof(PlanInfoC), 0x46464349, 1, 0, 0, 0, 0, 0, ntuple(_ -> UInt32(0), 8), 0, 0, 0.0,
                      ntuple(_ -> UInt8(0), 64)))
    _check(ccall(_fn(:ffc_plan_get_info), Cint, (Ptr{Cvoid}, Ref{PlanInfoC}), _h(p), r))
    c = r[]
    name = collect(c.kernel_name)
    n = something(findfirst(==(0x00), name), length(name) + 1) - 1
    PlanInfo(Int(c.fft_size), DType(c.dtype), Backend(c.backend), Int(c.device),
             Int.(collect(c.factors)[1:clamp(c.num_factors, 0, FFC_MAX_FACTORS)]), c.fused != 0,
             c.predicted_us_per_sequence, String(name[1:n]))
end

"""The planner's decision in words."""
function describe(p::Plan)
    need = Ref{Csize_t}(0)
    st = ccall(_fn(:ffc_plan_describe), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Csize_t, Ref{Csize_t}), _h(p), C_NULL, 0, need)
    st == FFC_ERROR_BUFFER_TOO_SMALL || _check(st)  # the size query answers BUFFER_TOO_SMALL by design
    buf = Vector{UInt8}(undef, need[])
    _check(ccall(_fn(:ffc_plan_describe), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Csize_t, Ref{Csize_t}),
                 _h(p), buf, length(buf), need))
    String(buf[1:end-1])
end

"""Workspace bytes that forward and backward need for `shape`."""
function workspace_size(p::Plan, s::Shape)
    n = Ref{Csize_t}(0)
    _check(ccall(_fn(:ffc_plan_get_workspace_size), Cint, (Ptr{Cvoid}, Ref{Shape}, Ref{Csize_t}), _h(p), s, n))
    Int(n[])
end

"""Bytes of a precomputed filter spectrum for `shape`."""
function spectrum_size(p::Plan, s::Shape)
    n = Ref{Csize_t}(0)
    _check(ccall(_fn(:ffc_kernel_spectrum_get_size), Cint, (Ptr{Cvoid}, Ref{Shape}, Ref{Csize_t}), _h(p), s, n))
    Int(n[])
end

# ---------------------------------------------------------------------------------
# Raw pointers: either backend (device pointers + stream for CUDA plans)
# ---------------------------------------------------------------------------------

"""
    forward_raw!(plan, shape, u, k, in_gate, out_gate, y, workspace, workspace_size, stream)

`ffc_conv_forward` on raw pointers (`Ptr{Cvoid}`; `C_NULL` for an absent gate).
For a CUDA plan these are device pointers and `stream` a `CUstream` (with
CUDA.jl: `reinterpret(Ptr{Cvoid}, pointer(x))` and `CUDA.stream().handle`); the
call returns once the work is enqueued. The caller keeps the memory alive.
"""
function forward_raw!(p::Plan, s::Shape, u::Ptr, k::Ptr, in_gate::Ptr, out_gate::Ptr, y::Ptr, ws::Ptr,
                      ws_size::Integer, stream::Ptr=C_NULL)
    _check(ccall(_fn(:ffc_conv_forward), Cint,
                 (Ptr{Cvoid}, Ref{Shape}, Ptr{Cvoid}, Ptr{Cfloat}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                  Csize_t, Ptr{Cvoid}),
                 _h(p), s, u, k, in_gate, out_gate, y, ws, ws_size, stream))
end

"""
    backward_raw!(plan, shape, dy, u, k, in_gate, out_gate, du, dk, d_in_gate, d_out_gate, workspace, workspace_size, stream)

`ffc_conv_backward` on raw pointers; `C_NULL` gradients are not computed.
"""
function backward_raw!(p::Plan, s::Shape, dy::Ptr, u::Ptr, k::Ptr, in_gate::Ptr, out_gate::Ptr, du::Ptr, dk::Ptr,
                       d_in_gate::Ptr, d_out_gate::Ptr, ws::Ptr, ws_size::Integer, stream::Ptr=C_NULL)
    _check(ccall(_fn(:ffc_conv_backward), Cint,
                 (Ptr{Cvoid}, Ref{Shape}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cfloat}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                  Ptr{Cfloat}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Csize_t, Ptr{Cvoid}),
                 _h(p), s, dy, u, k, in_gate, out_gate, du, dk, d_in_gate, d_out_gate, ws, ws_size, stream))
end

# ---------------------------------------------------------------------------------
# Host arrays (CPU plans)
# ---------------------------------------------------------------------------------

const _Elem = Union{Float32,Float16,BF16}

_ptr(::Nothing) = C_NULL
_ptr(a::Array) = Ptr{Cvoid}(pointer(a))

function _host_checks(p::Plan, ::Type{T}, what) where {T}
    p.backend == FFC_CPU ||
        throw(FlashFFTConvError(FFC_ERROR_INVALID_ARGUMENT, "$what on Arrays needs a CPU plan; use $(what)_raw! with device pointers"))
    _dtype(T) == p.dtype ||
        throw(FlashFFTConvError(FFC_ERROR_INVALID_DTYPE, "the plan's dtype is $(p.dtype) but the arrays hold $T"))
end

function _len(what, a, n)
    a === nothing && return
    length(a) == n || throw(FlashFFTConvError(FFC_ERROR_INVALID_SHAPE, "$what has $(length(a)) elements, the shape needs $n"))
end

"""
    forward!(plan, shape, y, u, k; in_gate=nothing, out_gate=nothing)

`y = out_gate .* conv(in_gate .* u, k)` on host arrays (CPU plans). Arrays are
contiguous with `length(u) == B*H*L` (laid out as (L, H, B)) and `length(k) == H*K`.
"""
function forward!(p::Plan, s::Shape, y::Array{T}, u::Array{T}, k::Array{Float32};
                  in_gate::Union{Nothing,Array{T}}=nothing, out_gate::Union{Nothing,Array{T}}=nothing) where {T<:_Elem}
    _host_checks(p, T, "forward")
    n = signal_length(s)
    _len("u", u, n); _len("y", y, n); _len("k", k, kernel_length(s))
    _len("in_gate", in_gate, n); _len("out_gate", out_gate, n)
    ws = Vector{UInt8}(undef, max(workspace_size(p, s), 1))
    GC.@preserve y u k in_gate out_gate ws begin
        forward_raw!(p, s, _ptr(u), _ptr(k), _ptr(in_gate), _ptr(out_gate), _ptr(y), _ptr(ws), length(ws))
    end
    return y
end

"""
    backward!(plan, shape, dy, u, k; in_gate, out_gate, du, dk, d_in_gate, d_out_gate)

Gradients of `forward!` on host arrays (CPU plans): pass the output arrays you
want (`dk` is a Float32 array of H*K elements, overwritten).
"""
function backward!(p::Plan, s::Shape, dy::Array{T}, u::Array{T}, k::Array{Float32};
                   in_gate::Union{Nothing,Array{T}}=nothing, out_gate::Union{Nothing,Array{T}}=nothing,
                   du::Union{Nothing,Array{T}}=nothing, dk::Union{Nothing,Array{Float32}}=nothing,
                   d_in_gate::Union{Nothing,Array{T}}=nothing, d_out_gate::Union{Nothing,Array{T}}=nothing) where {T<:_Elem}
    _host_checks(p, T, "backward")
    n = signal_length(s)
    for (what, a) in (("dy", dy), ("u", u), ("in_gate", in_gate), ("out_gate", out_gate), ("du", du),
                      ("d_in_gate", d_in_gate), ("d_out_gate", d_out_gate))
        _len(what, a, n)
    end
    _len("k", k, kernel_length(s)); _len("dk", dk, kernel_length(s))
    ws = Vector{UInt8}(undef, max(workspace_size(p, s), 1))
    GC.@preserve dy u k in_gate out_gate du dk d_in_gate d_out_gate ws begin
        backward_raw!(p, s, _ptr(dy), _ptr(u), _ptr(k), _ptr(in_gate), _ptr(out_gate), _ptr(du), _ptr(dk),
                      _ptr(d_in_gate), _ptr(d_out_gate), _ptr(ws), length(ws))
    end
    return (du=du, dk=dk, d_in_gate=d_in_gate, d_out_gate=d_out_gate)
end

"""
    default_fft_size(L, K; partial=false)

The FFT size `fftconv` uses when none is given: the smallest power of two ≥ L + K − 1
(at least 256), the causal convolution; with `partial=true`, the smallest power of
two ≥ max(256, 4K) (at most 4194304), but no larger than that causal size
(`ArgumentError` when 2K > 4194304).
"""
function default_fft_size(L::Integer, K::Integer; partial::Bool=false)
    plain = max(256, nextpow(2, L + K - 1))
    partial || return plain
    2K > 4194304 && throw(ArgumentError("partial convolution: kernel_len = $K is too long (K ≤ N/2 ≤ 2097152)"))
    min(max(256, nextpow(2, 4K)), 4194304, plain)
end

"""
    fftconv(u::Array{T,3}, k::Matrix{Float32}; in_gate=nothing, out_gate=nothing, fft_size=nothing, partial=false,
            freq_mask=nothing)

Convenience: `u` of size (L, H, B), `k` of size (K, H); a CPU plan of FFT size
`fft_size` (default: `default_fft_size(L, K; partial)`, the smallest power of two
≥ L + K − 1, at least 256, i.e. the causal convolution) is created for the call.
`partial=true` makes it a partial plan: the causal linear convolution for any L,
with N set by the kernel. `freq_mask` makes it a frequency-sparse plan (see
`PlanDesc`). Returns y like u.
"""
function fftconv(u::Array{T,3}, k::Matrix{Float32}; in_gate=nothing, out_gate=nothing,
                 fft_size=nothing, partial::Bool=false, freq_mask=nothing) where {T<:_Elem}
    L, H, B = size(u)
    K = size(k, 1)
    size(k, 2) == H || throw(FlashFFTConvError(FFC_ERROR_INVALID_SHAPE, "k has $(size(k, 2)) channels, u has $H"))
    n = fft_size === nothing ? default_fft_size(L, K; partial=partial) : fft_size
    plan = Plan(n; dtype=_dtype(T), backend=FFC_CPU, partial=partial, freq_mask=freq_mask)
    try
        return forward!(plan, Shape(B, H, L, K), similar(u), u, k; in_gate=in_gate, out_gate=out_gate)
    finally
        close(plan)
    end
end

# ---------------------------------------------------------------------------------
# Short depthwise convolution (ffc_conv1d_*)
# ---------------------------------------------------------------------------------

"""`ffc_layout_t`: FFC_BHL is C's (B, H, L), a Julia (L, H, B) array; FFC_BLH is C's (B, L, H), a Julia (H, L, B) array."""
@enum Layout::Int32 FFC_BHL = 0 FFC_BLH = 1

const FFC_CONV1D_DESC_MAGIC = UInt32(0x46464331)  # "FFC1"
const FFC_CONV1D_DESC_VERSION = UInt32(1)
const FFC_CONV1D_MAX_KERNEL_SIZE = 128

struct Conv1dDescC
    struct_size::Csize_t
    magic::UInt32
    version::UInt32
    dtype::Int32
    backend::Int32
    device::Int32
    layout::Int32
    kernel_size::Int32
    padding_left::Int32
    padding_right::Int32
    cpu_threads::Int32
    reserved::NTuple{6,UInt64}
end

"""Shape of one short-convolution call: x and dx hold B*H*L elements, y and dy B*H*L_out."""
struct Conv1dShape
    batch::Int64
    channels::Int64
    seq_len::Int64
end
input_length(s::Conv1dShape) = Int(s.batch * s.channels * s.seq_len)

# The header's sizes on LP64 (the library also rejects any other struct_size).
@assert sizeof(Conv1dDescC) == 96
@assert fieldoffset(Conv1dDescC, findfirst(==(:reserved), fieldnames(Conv1dDescC))) == 48
@assert sizeof(Conv1dShape) == 24

"""
    conv1d_padding(padding, K) -> (left, right)

An `Integer` p: p zeros on both sides (PyTorch's `padding=p`); `:valid` (0, 0);
`:same` ((K-1)÷2, K-1-(K-1)÷2: L_out = L, the odd zero of an even K on the right,
as PyTorch); `:causal` (K-1, 0); or a `(left, right)` tuple. Strings work too.
Each side must be at most K-1 (the library checks).
"""
function conv1d_padding(padding, K::Integer)
    padding isa Integer && return (Int(padding), Int(padding))
    padding isa Tuple && return (Int(padding[1]), Int(padding[2]))
    mode = Symbol(padding)
    mode === :valid && return (0, 0)
    mode === :same && return ((K - 1) ÷ 2, (K - 1) - (K - 1) ÷ 2)
    mode === :causal && return (Int(K) - 1, 0)
    throw(FlashFFTConvError(FFC_ERROR_INVALID_ARGUMENT, "unknown padding $(repr(padding)): an Integer, :valid, :same, :causal or (left, right)"))
end

const _conv1d_destroy_fn = Ref{Ptr{Cvoid}}(C_NULL)

"""
    Conv1dPlan(kernel_size; padding=:causal, dtype=FFC_FP16, layout=FFC_BHL, backend=FFC_AUTO, device=-1, cpu_threads=0)

An owned short depthwise convolution plan (`ffc_conv1d_plan_t`): one filter of
K = `kernel_size` taps (1 to 128) per channel, fp32 weights and bias. The
default padding is causal, as `FFC_CONV1D_DESC_INIT`. `FFC_AUTO` is resolved
here as the library resolves it (CUDA if available, else CPU). A finalizer
destroys the plan; `close(plan)` destroys it now.
"""
mutable struct Conv1dPlan
    handle::Ptr{Cvoid}
    dtype::DType
    backend::Backend
    layout::Layout
    kernel_size::Int
    padding::Tuple{Int,Int}
    function Conv1dPlan(kernel_size::Integer; padding=:causal, dtype::DType=FFC_FP16, layout::Layout=FFC_BHL,
                        backend::Backend=FFC_AUTO, device::Integer=-1, cpu_threads::Integer=0)
        left, right = conv1d_padding(padding, kernel_size)
        b = backend == FFC_AUTO ? (backend_available(FFC_CUDA) ? FFC_CUDA : FFC_CPU) : backend
        d = Conv1dDescC(sizeof(Conv1dDescC), FFC_CONV1D_DESC_MAGIC, FFC_CONV1D_DESC_VERSION, Int32(dtype), Int32(b),
                        Int32(device), Int32(layout), Int32(kernel_size), Int32(left), Int32(right),
                        Int32(cpu_threads), ntuple(_ -> UInt64(0), 6))
        _conv1d_destroy_fn[] == C_NULL && (_conv1d_destroy_fn[] = _fn(:ffc_conv1d_plan_destroy))
        h = Ref{Ptr{Cvoid}}(C_NULL)
        _check(ccall(_fn(:ffc_conv1d_plan_create), Cint, (Ref{Ptr{Cvoid}}, Ref{Conv1dDescC}), h, d))
        p = new(h[], dtype, b, layout, Int(kernel_size), (Int(left), Int(right)))
        finalizer(close, p)
        return p
    end
end

function Base.close(p::Conv1dPlan)
    if p.handle != C_NULL
        h, p.handle = p.handle, C_NULL
        ccall(_conv1d_destroy_fn[], Cvoid, (Ptr{Cvoid},), h)
    end
    return nothing
end

_h(p::Conv1dPlan) = p.handle == C_NULL ? throw(FlashFFTConvError(Int32(1001), "the plan has been closed")) : p.handle

"""L_out = L + padding_left + padding_right - K + 1 for `seq_len` = L (the library checks L ≥ 1, L_out ≥ 1)."""
function output_length(p::Conv1dPlan, seq_len::Integer)
    n = Ref{Int64}(0)
    _check(ccall(_fn(:ffc_conv1d_output_length), Cint, (Ptr{Cvoid}, Int64, Ref{Int64}), _h(p), seq_len, n))
    Int(n[])
end

"""Workspace bytes that forward and backward need for `shape` (may be 0)."""
function workspace_size(p::Conv1dPlan, s::Conv1dShape)
    n = Ref{Csize_t}(0)
    _check(ccall(_fn(:ffc_conv1d_get_workspace_size), Cint, (Ptr{Cvoid}, Ref{Conv1dShape}, Ref{Csize_t}), _h(p), s, n))
    Int(n[])
end

"""
    forward_raw!(plan::Conv1dPlan, shape::Conv1dShape, x, weight, bias, y, workspace, workspace_size, stream)

`ffc_conv1d_forward` on raw pointers (`C_NULL` for no bias); device pointers
and a stream for a CUDA plan, as for the FFT plans' `forward_raw!`.
"""
function forward_raw!(p::Conv1dPlan, s::Conv1dShape, x::Ptr, w::Ptr, bias::Ptr, y::Ptr, ws::Ptr, ws_size::Integer,
                      stream::Ptr=C_NULL)
    _check(ccall(_fn(:ffc_conv1d_forward), Cint,
                 (Ptr{Cvoid}, Ref{Conv1dShape}, Ptr{Cvoid}, Ptr{Cfloat}, Ptr{Cfloat}, Ptr{Cvoid}, Ptr{Cvoid}, Csize_t,
                  Ptr{Cvoid}),
                 _h(p), s, x, w, bias, y, ws, ws_size, stream))
end

"""
    backward_raw!(plan::Conv1dPlan, shape::Conv1dShape, dy, x, weight, dx, dweight, dbias, workspace, workspace_size, stream)

`ffc_conv1d_backward` on raw pointers; `C_NULL` gradients are not computed (x
may be `C_NULL` without dweight, weight without dx).
"""
function backward_raw!(p::Conv1dPlan, s::Conv1dShape, dy::Ptr, x::Ptr, w::Ptr, dx::Ptr, dw::Ptr, db::Ptr, ws::Ptr,
                       ws_size::Integer, stream::Ptr=C_NULL)
    _check(ccall(_fn(:ffc_conv1d_backward), Cint,
                 (Ptr{Cvoid}, Ref{Conv1dShape}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cfloat}, Ptr{Cvoid}, Ptr{Cfloat},
                  Ptr{Cfloat}, Ptr{Cvoid}, Csize_t, Ptr{Cvoid}),
                 _h(p), s, dy, x, w, dx, dw, db, ws, ws_size, stream))
end

function _host_checks(p::Conv1dPlan, ::Type{T}, what) where {T}
    p.backend == FFC_CPU ||
        throw(FlashFFTConvError(FFC_ERROR_INVALID_ARGUMENT, "$what on Arrays needs a CPU plan; use $(what)_raw! with device pointers"))
    _dtype(T) == p.dtype ||
        throw(FlashFFTConvError(FFC_ERROR_INVALID_DTYPE, "the plan's dtype is $(p.dtype) but the arrays hold $T"))
end

_conv1d_ws(p::Conv1dPlan, s::Conv1dShape) = Vector{UInt8}(undef, max(workspace_size(p, s), 1))

"""
    forward!(plan::Conv1dPlan, shape::Conv1dShape, y, x, weight; bias=nothing)

`y = bias + depthwise cross-correlation of x with weight` on host arrays (CPU
plans): `length(x) == B*H*L`, `length(weight) == H*K` (a (K, H) matrix),
`length(bias) == H`, `length(y) == B*H*L_out`, in the plan's layout.
"""
function forward!(p::Conv1dPlan, s::Conv1dShape, y::Array{T}, x::Array{T}, w::Array{Float32};
                  bias::Union{Nothing,Array{Float32}}=nothing) where {T<:_Elem}
    _host_checks(p, T, "forward")
    n_out = Int(s.batch * s.channels) * output_length(p, s.seq_len)
    _len("x", x, input_length(s)); _len("y", y, n_out); _len("weight", w, Int(s.channels) * p.kernel_size)
    _len("bias", bias, Int(s.channels))
    ws = _conv1d_ws(p, s)
    GC.@preserve y x w bias ws begin
        forward_raw!(p, s, _ptr(x), _ptr(w), _ptr(bias), _ptr(y), _ptr(ws), length(ws))
    end
    return y
end

"""
    backward!(plan::Conv1dPlan, shape::Conv1dShape, dy, x, weight; dx=nothing, dweight=nothing, dbias=nothing)

Gradients of `forward!` on host arrays (CPU plans): pass the outputs you want
(`dweight`, H*K Float32, and `dbias`, H Float32, are overwritten).
"""
function backward!(p::Conv1dPlan, s::Conv1dShape, dy::Array{T}, x::Array{T}, w::Array{Float32};
                   dx::Union{Nothing,Array{T}}=nothing, dweight::Union{Nothing,Array{Float32}}=nothing,
                   dbias::Union{Nothing,Array{Float32}}=nothing) where {T<:_Elem}
    _host_checks(p, T, "backward")
    n_out = Int(s.batch * s.channels) * output_length(p, s.seq_len)
    _len("dy", dy, n_out); _len("x", x, input_length(s)); _len("dx", dx, input_length(s))
    _len("weight", w, Int(s.channels) * p.kernel_size); _len("dweight", dweight, Int(s.channels) * p.kernel_size)
    _len("dbias", dbias, Int(s.channels))
    ws = _conv1d_ws(p, s)
    GC.@preserve dy x w dx dweight dbias ws begin
        backward_raw!(p, s, _ptr(dy), _ptr(x), _ptr(w), _ptr(dx), _ptr(dweight), _ptr(dbias), _ptr(ws), length(ws))
    end
    return (dx=dx, dweight=dweight, dbias=dbias)
end

"""
    depthwise_conv1d(x::Array{T,3}, weight::Matrix{Float32}; bias=nothing, padding=0, layout=FFC_BHL)

Convenience: PyTorch's `conv1d(x, weight, bias, padding=padding, groups=H)` on
the CPU backend. `x` is (L, H, B) for `FFC_BHL` or (H, L, B) for `FFC_BLH`;
`weight` is (K, H); `bias` a length-H `Vector{Float32}`. Returns y in x's layout
((L_out, H, B) or (H, L_out, B)). A plan is created for the call.
"""
function depthwise_conv1d(x::Array{T,3}, w::Matrix{Float32}; bias::Union{Nothing,Vector{Float32}}=nothing,
                          padding=0, layout::Layout=FFC_BHL) where {T<:_Elem}
    L, H, B = layout == FFC_BHL ? size(x) : (size(x, 2), size(x, 1), size(x, 3))
    K = size(w, 1)
    size(w, 2) == H || throw(FlashFFTConvError(FFC_ERROR_INVALID_SHAPE, "weight has $(size(w, 2)) channels, x has $H"))
    plan = Conv1dPlan(K; padding=padding, dtype=_dtype(T), layout=layout, backend=FFC_CPU)
    try
        s = Conv1dShape(B, H, L)
        Lo = output_length(plan, L)
        y = Array{T}(undef, layout == FFC_BHL ? (Lo, H, B) : (H, Lo, B))
        return forward!(plan, s, y, x, w; bias=bias)
    finally
        close(plan)
    end
end

end # module
