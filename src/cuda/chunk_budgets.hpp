// How much workspace the CUDA backend's chunked work uses, fixed per plan when
// it is created (so ffc_plan_get_workspace_size and the execute calls agree).
//
// Defaults measured on the H100 (docs/performance.md, bench/tune_build.sh):
// bigger chunks mean fewer and fuller launches. Multi-pass chunks of 512 MiB of Z
// against 5/8 of the L2 (31 MiB): forward 1M 992 -> 893 ms, forward + backward
// 3498 -> 3035 ms; the L2 residency the small chunks aimed at bought nothing.
// Fused backward, dk spectra per chunk 256 MiB -> 1 GiB: 64K forward + backward
// 164.4 -> 157.2 ms.
#pragma once

#include <cstddef>

#ifndef FFC_MP_CHUNK_MIB
#define FFC_MP_CHUNK_MIB 512  // build-time default (bench/tune_build.sh)
#endif
#ifndef FFC_DK_CHUNK_MIB
#define FFC_DK_CHUNK_MIB 512  // build-time default (bench/tune_build.sh)
#endif

namespace ffc::cuda {

struct ChunkBudgets {
    size_t multipass = size_t(FFC_MP_CHUNK_MIB) << 20;  // bytes of Z per multi-pass chunk
    size_t dk = size_t(FFC_DK_CHUNK_MIB) << 20;         // bytes of dk spectra per fused-backward chunk
};

// The budgets a plan created now gets: the defaults, or the testing override.
ChunkBudgets chunk_budgets();

// Testing hook (white-box tests, which link the static library; the shared
// library does not export it): budgets for plans created afterwards, so that
// small problems still split into several chunks. nullptr restores the defaults.
void set_chunk_budgets_for_testing(const ChunkBudgets *budgets);

}  // namespace ffc::cuda
