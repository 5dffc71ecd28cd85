// Device presets: published (or, where noted, measured) figures for the GPUs the
// library targets, so the planner can be exercised for any of them on any machine.
//
// Conventions (match DeviceCaps in device_caps.hpp):
// - Bandwidths count bytes read + written, in GB/s (1e9 B/s).
// - tensor_tflops is dense 16-bit mma.sync with fp32 accumulate, the instruction the
//   fused kernels use; fp32_tflops counts an FMA as 2 FLOPs.
// - smem_gbps is the aggregate shared-memory bandwidth: 32 banks × 4 B = 128 B per
//   clock per SM, × SMs × the clock the throughput figures are quoted at.
// - sync_us is the latency a CTA-wide barrier exposes per stage (pipeline drain plus
//   one shared-memory round trip), taken as ≈ 200 cycles at that clock: an estimate
//   that the benchmark is meant to calibrate, like launch_us.
// Figures not marked "measured" are vendor peaks: real kernels reach less, and the
// calibration step is expected to replace them with measurements.
#include "plan/device_caps.hpp"

#include "common/types.hpp"

namespace ffc::plan {

namespace {

constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * 1024;

// 128 B/clk/SM of shared memory, in GB/s, at `ghz`.
constexpr double smem_gbps_at(int sms, double ghz) { return 128.0 * sms * ghz; }
// ≈ 200 cycles of exposed latency per CTA-wide barrier, in µs, at `ghz`.
constexpr double barrier_us_at(double ghz) { return 200.0 / (ghz * 1e3); }

DeviceCaps a100() {
    // NVIDIA A100 Tensor Core GPU Architecture whitepaper; A100 80GB SXM4 datasheet.
    DeviceCaps c;
    c.name = "NVIDIA A100-SXM4-80GB (preset)";
    c.sm_major = 8, c.sm_minor = 0;
    c.sm_count = 108;
    c.smem_per_block = 163 * KiB;           // 166912 B opt-in per CTA
    c.smem_per_sm = 164 * KiB;              // 167936 B configurable carve-out
    c.l2_bytes = 40 * MiB;
    c.hbm_gbps = 2039;                      // HBM2e, datasheet peak (copy reaches ~85-90 %)
    c.l2_gbps = 5000;                       // 5120 B/clk × 1.41 GHz = 7.2 TB/s peak; ~70 % is what microbenchmarks see
    c.smem_gbps = smem_gbps_at(108, 1.41);  // 19.5 TB/s at the 1.41 GHz boost clock
    c.tensor_tflops = 312;                  // dense fp16/bf16, fp32 accumulate (mma.sync is the only path on sm_80)
    c.fp32_tflops = 19.5;
    c.launch_us = 2.5;                      // back-to-back launch on one stream, typical
    c.sync_us = barrier_us_at(1.41);
    c.max_cluster = 1;                      // no thread-block clusters before sm_90
    return c;
}

DeviceCaps h100() {
    // H100 SXM5: NVIDIA H100 Tensor Core GPU Architecture whitepaper, except where
    // marked "measured" (this project's H100, see DESIGN §6 and the bench).
    DeviceCaps c;
    c.name = "NVIDIA H100 80GB HBM3 SXM (preset)";
    c.sm_major = 9, c.sm_minor = 0;
    c.sm_count = 132;
    c.smem_per_block = 227 * KiB;           // 232448 B opt-in per CTA
    c.smem_per_sm = 228 * KiB;              // 233472 B
    c.l2_bytes = 50 * MiB;
    c.hbm_gbps = 3000;                      // measured device-to-device copy (datasheet peak 3350)
    c.l2_gbps = 7500;                       // microbenchmark reports put H100 L2 at ~7-8 TB/s; calibrate
    c.smem_gbps = smem_gbps_at(132, 1.83);  // 30.9 TB/s at the 1.83 GHz the tensor peak is quoted at
    // Measured: bf16 GEMM with wgmma ≈ 800 TFLOP/s (datasheet 989 dense); mma.sync,
    // which the fused kernels use, reaches roughly 60-65 % of that.
    c.tensor_tflops = 500;
    c.fp32_tflops = 66.9;
    c.launch_us = 2.5;
    c.sync_us = barrier_us_at(1.83);
    c.max_cluster = 16;                     // 8 portable, 16 with the non-portable opt-in
    return c;
}

DeviceCaps h200() {
    // H200 SXM: the H100's GH100 die with 141 GB of HBM3e. Compute figures as the H100.
    DeviceCaps c = h100();
    c.name = "NVIDIA H200 SXM (preset)";
    c.hbm_gbps = 4300;                      // measured device-to-device copy (datasheet peak 4800)
    return c;
}

DeviceCaps rtx4090() {
    // GeForce RTX 4090 (AD102): NVIDIA Ada Lovelace architecture whitepaper.
    DeviceCaps c;
    c.name = "NVIDIA GeForce RTX 4090 (preset)";
    c.sm_major = 8, c.sm_minor = 9;
    c.sm_count = 128;
    c.smem_per_block = 99 * KiB;            // 101376 B opt-in per CTA
    c.smem_per_sm = 100 * KiB;              // 102400 B
    c.l2_bytes = 72 * MiB;
    c.hbm_gbps = 1008;                      // GDDR6X, 21 Gbps × 384 bit
    c.l2_gbps = 5000;                       // microbenchmark reports ~5 TB/s; calibrate
    c.smem_gbps = smem_gbps_at(128, 2.52);  // 41.3 TB/s at the 2.52 GHz boost clock
    c.tensor_tflops = 165.2;                // fp16 with fp32 accumulate: half the fp16-accumulate rate on GeForce
    c.fp32_tflops = 82.6;
    c.launch_us = 2.5;
    c.sync_us = barrier_us_at(2.52);
    c.max_cluster = 1;                      // clusters need sm_90
    return c;
}

DeviceCaps host_cpu() {
    // A generic host for the CPU backend (fp32 arithmetic, up to 16 worker threads,
    // see ffc_plan_desc_t::cpu_threads). The fields are reinterpreted for a CPU:
    // "SMs" are worker threads, "shared memory" is the private L2 of a core (where a
    // sequence being transformed should live), "L2" the shared last-level cache,
    // "HBM" DRAM. These are deliberately round, modest numbers for a desktop/server
    // core running portable C++ (not hand-vectorised peak): only the relative cost of
    // factorisations matters to the planner here.
    DeviceCaps c;
    c.name = "host CPU (generic preset)";
    c.sm_major = 0, c.sm_minor = 0;
    c.sm_count = 16;
    c.smem_per_block = 1 * MiB;             // per-core L2
    c.smem_per_sm = 1 * MiB;
    c.l2_bytes = 32 * MiB;                  // shared L3
    c.hbm_gbps = 50;                        // dual-channel DDR5 class, sustained
    c.l2_gbps = 400;                        // aggregate L3
    c.smem_gbps = 1500;                     // aggregate L1/L2: 16 cores × ~32 B/clk × 3 GHz
    c.tensor_tflops = 0;                    // no tensor cores: everything is fp32 on the cores
    c.fp32_tflops = 0.3;                    // compiler-vectorised complex arithmetic, 16 cores
    c.launch_us = 10;                       // waking the worker threads
    c.sync_us = 0;                          // workers never barrier inside a transform
    c.max_cluster = 1;
    return c;
}

}  // namespace

DeviceCaps device_preset(const std::string &name) {
    if (name == "a100") return a100();
    if (name == "h100") return h100();
    if (name == "h200") return h200();
    if (name == "rtx4090") return rtx4090();
    if (name == "cpu") return host_cpu();
    std::string known;
    for (const std::string &n : device_preset_names()) known += (known.empty() ? "" : ", ") + n;
    fail(FFC_ERROR_INVALID_ARGUMENT, "unknown device preset \"" + name + "\" (known: " + known + ")");
}

std::vector<std::string> device_preset_names() { return {"a100", "h100", "h200", "rtx4090", "cpu"}; }

}  // namespace ffc::plan
