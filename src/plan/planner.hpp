// The planner: a pure function of (FFT size, dtype, backend, device capabilities,
// kernel registry). It enumerates Monarch factorisations, prices each with the
// cost model, and picks the cheapest one the backend can execute.
#pragma once

#include <string>
#include <vector>

#include "common/types.hpp"
#include "plan/device_caps.hpp"
#include "plan/kernel_variant.hpp"

namespace ffc::plan {

enum class Path { fused, multipass };

// How a multi-pass candidate runs its outer passes (1 and 3): the direct CUDA-core
// kernels of src/cuda/multipass.cu (M ≤ 256), or cuBLASLt batched complex GEMMs
// with elementwise kernels around them (src/cuda/outer_gemm.hpp; any M up to
// kMaxGemmOuter, which is what lets a device whose largest inner kernel is small
// still reach 4M).
enum class OuterImpl { direct, cublaslt };
constexpr int kMaxGemmOuter = 1024;  // largest M offered with cuBLASLt outer passes

// Where a multi-pass candidate keeps its intermediate Z between the passes:
// chunks of FFC_MP_CHUNK_MIB (a round trip through HBM with few, full launches), or
// chunks sized to stay in the L2 (5/8 of it) so that passes 2 and 3 can read Z
// back from there, at the price of many smaller launches.
enum class Intermediates { hbm_round_trip, l2_resident };

// Z per chunk of the HBM round trip (bench/tune_build.sh can override it at build time).
#ifndef FFC_MP_CHUNK_MIB
#define FFC_MP_CHUNK_MIB 512
#endif

struct CostBreakdown {
    double hbm_us = 0, l2_us = 0, smem_us = 0, tensor_us = 0, fp32_us = 0, sync_us = 0, launch_us = 0;
    double total_us = 0;
};

struct Candidate {
    std::vector<int> factors;   // Monarch factorisation of N, outermost first
    Path path = Path::fused;
    const KernelVariant *kernel = nullptr;  // CUDA variant (nullptr for the CPU backend)
    size_t smem_bytes = 0;
    CostBreakdown cost;         // for the reference workload (see Decision)
    bool feasible = false;
    std::string reason;         // why infeasible, when it is
    // Multi-pass candidates only:
    OuterImpl outer = OuterImpl::direct;
    Intermediates intermediates = Intermediates::hbm_round_trip;
    size_t chunk_bytes = 0;     // bytes of Z per chunk (the executor's chunking)

    // What ffc_plan_describe prints in its "kernel" column and force_kernel takes:
    // the kernel variant's name (the inner variant for multi-pass), with "+l2" for
    // L2-resident chunks and "+cublaslt" for GEMM outer passes; "cpu_monarch" on
    // the CPU backend.
    std::string name() const;
};

struct Decision {
    uint64_t fft_size = 0;
    DType dtype = DType::f16;
    Backend backend = Backend::cpu;   // resolved, never automatic
    DeviceCaps caps;
    int64_t ref_sequences = 0;        // B·H of the reference workload the costs are for
    Candidate chosen;
    std::vector<Candidate> candidates;  // everything considered, cheapest first

    double predicted_us_per_sequence() const;
};

// Plans N on the backend. Throws ffc::Error: FFC_ERROR_INVALID_FFT_SIZE,
// FFC_ERROR_INVALID_FLAGS (a forced factorisation that does not multiply to N),
// FFC_ERROR_NO_KERNEL (nothing feasible).
//
// forced_factors (non-empty): choose the cheapest candidate with exactly these
// factors (several CUDA candidates can share a factor list).
//
// forced_kernel (non-empty): choose the one candidate with this name() — the
// name in describe()'s "kernel" column: the fused variant for a fused
// candidate, the inner (rows) variant for a multi-pass one, suffixed "+l2" or
// "+cublaslt" for the multi-pass alternatives. For one N a name identifies at
// most one candidate: fused candidates use variants of size N and multi-pass
// ones variants of size N_in < N (so the two sets of names are disjoint),
// variant names are unique in the registry, an inner variant fixes the outer
// size M = N / N_in, so it appears in at most one split, and the suffix names
// the split's implementation.
// make_plan checks this (FFC_ERROR_INTERNAL if the registry ever broke it).
// Errors: FFC_ERROR_NO_KERNEL when no candidate for N has the name (the message
// lists the candidates' names), when the device cannot run it (with the reason),
// and always on the CPU backend, which has no kernel variants;
// FFC_ERROR_INVALID_FLAGS when forced_factors is also given and is not that
// candidate's factorisation.
Decision make_plan(uint64_t fft_size, DType dtype, Backend backend, const DeviceCaps &caps,
                   const std::vector<int> &forced_factors = {}, const std::string &forced_kernel = {});

// Cost model for one candidate on a workload of `sequences` (B·H) sequences.
CostBreakdown predict(const Candidate &c, uint64_t fft_size, DType dtype, const DeviceCaps &caps,
                      int64_t sequences);

// Multi-line human-readable text for ffc_plan_describe.
std::string describe(const Decision &d);

}  // namespace ffc::plan
