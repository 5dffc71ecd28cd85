// The multi-pass outer passes as cuBLASLt batched GEMMs (issue 4: "cuBLASLt
// batched GEMM for the outer DFT is a candidate the planner may choose").
//
// The outer M-point DFT of a sequence viewed as the row-major M × N_in matrix
// A[n1][n2] = x[N_in·n1 + n2] is the matrix product F_M · A, F_M[k1][n1] =
// W_M^(n1·k1). In cuBLASLt's column-major terms the sequence's memory is the
// N_in × M matrix A^T (leading dimension N_in), and F_M is symmetric, so
//
//   pass 1:  Z'^T = A^T · F_M[0:rows, :]          (m = N_in, n = M,    k = rows)
//   pass 3:  W'^T = Zu^T · conj(F_M)[:, 0:rows]/M (m = N_in, n = rows, k = M)
//
// one complex fp32 GEMM per sequence pair (CUDA_C_32F, CUBLAS_COMPUTE_32F:
// fp32 on CUDA cores; TF32 would cost the fp16 accuracy budget), batched over the
// chunk's pairs with a stride of M·N_in and F shared (stride 0). Only the
// `rows` = ceil(L / N_in) rows of A that hold data enter pass 1 (the zero-padded
// half is skipped) and only the rows of w' below L leave pass 3. The four-step
// twiddle and the gates are elementwise kernels around the GEMMs:
//
//   pass 1:  gate_pair   A = (in_gate ⊙ x)_a + i·(in_gate ⊙ x)_b → scratch (t < rows·N_in)
//            GEMM        scratch → Z'
//            twiddle     Z[k1][n2] = Z'[k1][n2] · W_N^(n2·k1), in place
//   pass 3:  twiddle     Zu[k1][n2] = Z[k1][n2] · conj(W_N^(n2·k1)), in place (Z is consumed)
//            GEMM        Zu → scratch (w', already scaled by 1/M)
//            output      y_a = Re w' ⊙ gate_a, y_b = Im w' ⊙ gate_b (and y2), t < L
//
// The same contract as the direct kernels (multipass.cu, mp::OuterParams), so
// the rest of the multi-pass path (inner rows, spectra, dk) is unchanged. The
// twiddles are the plan's outer table values (outer_twiddles.hpp: W_N^e as
// hi·lo in double, rounded once), the same values the direct kernels use.
//
// The GEMMs use no cuBLASLt workspace (nothing is allocated per call and the
// plan can run on several streams at once); the algorithm is cuBLASLt's first
// heuristic answer for the call's shape. CUDA translation units only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/launch.hpp"
#include "cuda/outer_params.cuh"

namespace ffc::cuda {

class OuterGemm {
public:
    // The plan's device must be current. Creates the cuBLASLt handle and uploads
    // F_M and conj(F_M) (complex fp32, M × M: plan memory, 2·M²·8 bytes);
    // synchronises. Throws ffc::Error (FFC_ERROR_CUDA, FFC_ERROR_OUT_OF_MEMORY,
    // FFC_ERROR_NOT_SUPPORTED when cuBLASLt refuses).
    OuterGemm(uint64_t n, int m, int device);
    ~OuterGemm();
    OuterGemm(const OuterGemm &) = delete;
    OuterGemm &operator=(const OuterGemm &) = delete;

    // Bytes of scratch a pass over `items` sequence pairs needs (items·N·8, the
    // size of the chunk's Z).
    size_t scratch_bytes(int64_t items) const { return size_t(items) * size_t(n_) * 8; }

    // Pass 1 (see above) for items o.item_offset .. + items: writes o.z, float2
    // [items][M][N_in], exactly what the direct forward kernel writes (up to
    // rounding). io is the element type of o.x / o.gate.
    void forward(IoType io, const mp::OuterParams &o, int64_t items, void *scratch, void *stream) const;
    // Pass 3: reads and overwrites o.z, writes o.y (and o.y2) for t < seq_len.
    void inverse(IoType io, const mp::OuterParams &o, int64_t items, void *scratch, void *stream) const;

private:
    // Internal consistency of a pass's arguments (FFC_ERROR_INTERNAL otherwise).
    void check_pass(const mp::OuterParams &o, int64_t items, const void *scratch, const char *pass) const;

    uint64_t n_ = 0, n_in_ = 0;
    int m_ = 0;
    int device_ = 0;
    void *lt_ = nullptr;       // cublasLtHandle_t
    void *f_ = nullptr;        // F_M, cuComplex [M][M]
    void *f_conj_ = nullptr;   // conj(F_M)
};

}  // namespace ffc::cuda
