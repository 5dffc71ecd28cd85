// How much workspace the CUDA backend's chunked work uses, fixed per plan when
// it is created (so ffc_plan_get_workspace_size and the execute calls agree).
//
// The multi-pass chunk is the planner's decision (plan::Candidate::chunk_bytes:
// FFC_MP_CHUNK_MIB through HBM, or a share of the L2); only the testing hook
// below overrides it. The fused backward's dk budget is fixed here, measured on
// the H100 (bench/tune_build.sh): dk spectra per chunk 256 MiB -> 1 GiB, 64K
// forward + backward 164.4 -> 157.2 ms.
#pragma once

#include <cstddef>

#ifndef FFC_DK_CHUNK_MIB
#define FFC_DK_CHUNK_MIB 512  // build-time default (bench/tune_build.sh)
#endif

// The multi-pass backward's dk pair groups (multipass.hpp): the fewest groups
// that give the inner launch this many items (rows) per SM. Fewer groups sum
// more pairs on chip; more groups give more parallel, shorter slots.
#ifndef FFC_MP_DK_ITEMS_PER_SM
#define FFC_MP_DK_ITEMS_PER_SM 8  // build-time default (bench/tune_build.sh)
#endif

// The fused backward's dk pair groups (cuda_executor.cpp): the fewest groups
// that fill the GPU's resident backward slots this many times over. H100,
// backward fp16 at 256-4K: 1 wave 5-12 % slower than 2; 2, 4 and one pair per
// group (no sum on chip) within 1.5 % of each other; 8 waves 4-7 % slower than
// 2 at 256 and 4K. The cluster variants (few resident slots, each running its
// group's passes one after the other) lose to the launch's last wave with 2:
// 8K 7.01–7.08 ms with 2 waves, 6.61–6.69 with 8, 6.65–6.79 with one pair per
// group; 16K 15.2–15.5, 14.6–14.7, 14.6–14.7; 32K 34.4–34.9, 32.5–33.1,
// 32.6–33.0.
#ifndef FFC_DK_WAVES
#define FFC_DK_WAVES 2  // build-time default (bench/tune_build.sh)
#endif
#ifndef FFC_DK_WAVES_CLUSTER
#define FFC_DK_WAVES_CLUSTER 8  // the same for the cluster variants
#endif

namespace ffc::cuda {

struct ChunkBudgets {
    size_t multipass = 0;  // bytes of Z per multi-pass chunk; 0: the plan's (planner's) choice
    size_t dk = size_t(FFC_DK_CHUNK_MIB) << 20;  // bytes of dk spectra per fused-backward chunk
    // Pair groups per chunk of the multi-pass and of the fused backward's dk;
    // 0: their rules (FFC_MP_DK_ITEMS_PER_SM, FFC_DK_WAVES).
    long long dk_pair_groups = 0;
};

// The budgets a plan created now gets: the defaults, or the testing override.
ChunkBudgets chunk_budgets();

// Testing hook (white-box tests, which link the static library; the shared
// library does not export it): budgets for plans created afterwards, so that
// small problems still split into several chunks. nullptr restores the defaults.
void set_chunk_budgets_for_testing(const ChunkBudgets *budgets);

}  // namespace ffc::cuda
