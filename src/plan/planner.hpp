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

// Throws ffc::Error: FFC_ERROR_INVALID_FFT_SIZE, FFC_ERROR_INVALID_FLAGS (forced
// factorisation that does not multiply to N), FFC_ERROR_NO_KERNEL (nothing feasible).
Decision make_plan(uint64_t fft_size, DType dtype, Backend backend, const DeviceCaps &caps,
                   const std::vector<int> &forced_factors = {});

// Cost model for one candidate on a workload of `sequences` (B·H) sequences.
CostBreakdown predict(const Candidate &c, uint64_t fft_size, DType dtype, const DeviceCaps &caps,
                      int64_t sequences);

// Multi-line human-readable text for ffc_plan_describe.
std::string describe(const Decision &d);

}  // namespace ffc::plan
