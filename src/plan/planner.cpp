// The planner (DESIGN §5): enumerate the Monarch factorisations the backend can
// execute, price each with the cost model, pick the cheapest feasible one.
//
// Everything here is a pure function of its arguments: no global state, no device
// calls. The device enters only through the DeviceCaps record, so any device can
// be planned for on any machine (tests use the presets).
#include "plan/planner.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <limits>
#include <tuple>

#include "monarch/monarch.hpp"

namespace ffc::plan {

namespace {

// ---------------------------------------------------------------------------
// The reference workload the planner prices candidates on (DESIGN §6's bench
// shape): B·H sequences with L = N and both gates present.
// ---------------------------------------------------------------------------
constexpr int64_t kRefBatch = 64;
constexpr int64_t kRefChannels = 768;

// ---------------------------------------------------------------------------
// Cost model constants: every number the model uses that does not come from the
// DeviceCaps record lives here, so calibrating against the bench means editing
// this block (device-specific numbers belong in the presets / the device query).
//
// Fused CUDA kernel, for a workload of S sequences (P = ceil(S/2) packed pairs,
// C = ceil(S / kRefBatch) channels), FFT size N, order p = number of factors,
// I/O element size e bytes, CTAs of q pairs:
//
//   HBM bytes    = S·N·e·(kStreamsRead + kStreamsWritten)      u, gates in; y out
//                + C·N·kComplexBytes                           spectrum, once per channel
//   L2 bytes     = S·N·e·(kStreamsRead + kStreamsWritten)      all HBM traffic crosses L2
//                + P·N·kComplexBytes                           spectrum, re-read by every pair
//   smem bytes   = P·N·kSmemRoundTripBytes·t,  t = 2p, or 2p − 1 with direct I/O,
//                  at least kMinRoundTrips
//                  (2p stages; the last forward stage, the pointwise product and
//                   the first inverse stage share one round trip, so 2p−1 stage
//                   round trips, plus one for the load pass (write) and the store
//                   pass (read) together, which a variant with direct I/O, whose
//                   stage 0 reads u and writes y itself, does not have)
//   tensor FLOPs = P·N·2·Σ_{tensor-core r} kSplitProducts·kTensorFlopsPerRadix·r
//                  (an r-point complex DFT as a real 2r×2r product: 8r FLOPs per
//                   complex element; 3 products for the bf16 hi/lo split)
//   fp32 FLOPs   = P·N·( 2·Σ_{CUDA-core r} kButterflyFlopsPerLog2·log2 r
//                      + 2(p−1)·kComplexMulFlops                twiddles
//                      + kComplexMulFlops                       ·K
//                      + kGateFlopsPerPairElement )             both gates
//   CTAs         = ceil(P / q); resident per SM from shared memory, threads (at most
//                  kRegisterResidentThreads: the register file), CTA cap
//   waves        = ceil(CTAs / (SMs · resident))
//   sync         = waves · t barriers · caps.sync_us            (one per round trip)
//   launch       = kFusedLaunches · caps.launch_us
//
//   smem time    = (smem bytes + P·N·kSmemRoundTripBytes·cluster_round_trips(C_cluster, direct I/O))
//                  / (smem_bw · kOnChipEfficiency)
//                  (measured: the kernels are issue- and latency-bound; their stages
//                   run at about 0.3 of the shared-memory bandwidth)
//   exposed I/O  = HBM time / resident        (while a CTA loads or stores, only the
//                  other resident CTAs compute: with one CTA per SM none does)
//   time = (max(HBM/hbm_bw, L2/l2_bw, smem time, tensor/tensor_rate, fp32/fp32_rate)
//           + exposed I/O) / active + sync + launch,
//          active = min(1, CTAs / SMs)   (too few CTAs idle SMs)
//
// CPU backend (no kernel variant), with the same S, P, C, N, p:
//   DRAM bytes   = as HBM above (the I/O streams and the spectrum)
//   pass bytes   = P·N·kSmemRoundTripBytes·(2p + 1)   each stage and the product
//                  read and write the pair's buffer once; charged to the level of
//                  the cache hierarchy the buffer (N·kComplexBytes) fits in:
//                  private cache (caps.smem_per_block) -> smem term, its share of
//                  the last-level cache (caps.l2_bytes / workers) -> L2 term,
//                  otherwise DRAM (HBM term)
//   fp32 FLOPs   = P·N·( 2·Σ_r kButterflyFlopsPerLog2·log2 r  (an O(r log r) FFT per stage)
//                      + 2(p−1)·kComplexMulFlops + kComplexMulFlops + kGateFlopsPerPairElement )
//   time = max(terms) / active + caps.launch_us,   active = min(1, P / workers)
//
// Multi-pass CUDA path (N = M·N_in, inner variant of size N_in, M ≤ kMaxOuter),
// same S, P, C, with Z the fp32 complex intermediate (P·N·kComplexBytes). The
// three passes are sequential kernels, so their times add:
//   inner        = the fused model of the inner variant on 2·P·M rows of N_in with
//                  fp32 I/O in two streams (a row is read once and written once as
//                  fp32 complex, like a pair of fp32 sequences; no gates)
//   outer bytes  = I/O streams and spectrum as for fused   (passes 1 and 3)
//                + kOuterZCrossings·Z                      (pass 1 writes Z, pass 3 reads it)
//                + C·N·kSpectrumPrepBytes                  (k's rows: outer pass + inner transform)
//   outer time   = max(outer bytes / (hbm_bw · kOuterHbmEfficiency),
//                      outer smem / smem_bw, outer fp32 / fp32_rate)
//   outer smem   = P·N·kSmemRoundTripBytes·2·(stages − 1)   per direction: the M ≥ 32
//                  passes exchange through shared memory once
//   outer fp32   = P·N·2·(kButterflyFlopsPerLog2·log2 M + kComplexMulFlops·stages)
//                  (stages = ceil(log2 M / log2 kOuterRadix); one column twiddle per element)
//   launch       = (launches·chunks + kSpectrumLaunches)·caps.launch_us,
//                  chunks = ceil(Z / chunk bytes)
//   tails        = chunks · kLaunchTailWaves · (inner / inner waves + outer / outer waves)
//                  (listed in the breakdown's sync column)
//                  (every launch of a chunk ends in a partly filled wave; waves
//                   counted over the whole workload, CTAs / (SMs · resident))
//   time = inner + outer time + launch + tails
// The two choices a multi-pass split comes with (Candidate::outer, ::intermediates):
//   HBM round trip: chunks of FFC_MP_CHUNK_MIB; every Z crossing goes to HBM.
//   L2-resident:    chunks of kL2ChunkFraction·L2; a fraction kL2ResidentHitRate of
//                   the Z crossings (pass 1's write, the inner pass's read and
//                   write, pass 3's read) is served by the L2 instead: the inner
//                   model and the outer Z bytes see the bandwidth
//                   1 / ((1 − h)/hbm + h/l2); the small chunks pay the tails.
//   cuBLASLt outer: passes 1 and 3 as complex fp32 GEMMs (8·M·rows FLOPs per
//                   element and pass, at kGemmEfficiency of the fp32 rate, or the
//                   GEMM's bytes) plus elementwise kernels: kGemmOuterZCrossings
//                   Z-sized crossings instead of kOuterZCrossings,
//                   kGemmLaunches launches per chunk; M up to kMaxGemmOuter.
// ---------------------------------------------------------------------------
namespace model {
constexpr double kStreamsRead = 3;              // u, in_gate, out_gate
constexpr double kStreamsWritten = 1;           // y
constexpr double kComplexBytes = 8;             // fp32 complex: on-chip data and the spectrum
constexpr double kSmemRoundTripBytes = 16;      // write and read one complex fp32 element
constexpr double kSplitProducts = 3;            // hi·hi + hi·lo + lo·hi (bf16 split precision)
constexpr double kTensorFlopsPerRadix = 8;      // complex DFT as a real matrix: 8r FLOPs / element
constexpr double kButterflyFlopsPerLog2 = 5;    // radix-2 butterflies: 5·log2(r) FLOPs / element
constexpr double kComplexMulFlops = 6;          // one complex multiply (twiddle, spectrum)
constexpr double kGateFlopsPerPairElement = 4;  // in_gate and out_gate on both halves of a pair
constexpr size_t kSmemReservedPerCta = 1024;    // shared memory the driver reserves per CTA (sm_80+)
constexpr int kMaxCtasPerSm = 32;               // hardware residency cap (sm_80 / sm_90)
// The fused kernels use ~110-128 registers per thread (ptxas; __launch_bounds__
// asks for 512 threads per SM: two CTAs of 256, four of 128), so 64K registers hold 512 threads.
// (The multi-pass rows kernel of the 128-thread variants and the 256-point
// convolution kernel hold five CTAs, 640 threads; the model does not tell them
// apart, one reason it prices the splits 10-20 % above what they take.)
constexpr int kRegisterResidentThreads = 512;
// A two-stage kernel (256 = 16x16, 4 round trips) is not cheaper per element than
// the three-stage ones (6): what every kernel pays per row (the I/O, the spectrum,
// the gates, the barriers) weighs more at small N. Measured on the H100 per pair
// element (fp16 forward): 256 13.2 ps, 512 11.7, 1K 10.3, 2K 9.8, 4K 10.2; as the
// multi-pass inner kernel at 64K, 256 x 16x16 36.5 ms against 32 x 8x16x16 35.2.
constexpr double kMinRoundTrips = 6;
constexpr int kFusedLaunches = 1;               // one kernel does the whole convolution
// Multi-pass path (N = M·N_in, see below).
constexpr int kMaxOuter = 256;                  // largest outer size M (src/cuda/multipass.cu)
constexpr int kOuterTile = 8192;                // complex elements per outer CTA tile: N_in >= kOuterTile / M
constexpr double kOuterZCrossings = 2;          // Z: written by pass 1, read by pass 3 (pass 2 is the inner model's)
constexpr double kSpectrumPrepBytes = 4 + 8 + 8 + 8;  // per element of k's rows: k in, Z out, rows in, spectrum out
constexpr int kOuterRadix = 16;                 // Stockham radix of the outer column DFT
constexpr int kMultipassLaunches = 3;           // per chunk: outer forward, inner rows, outer inverse
constexpr int kOuterResident = 2;               // outer CTAs per SM (256 threads, 64 KiB; multipass.cu)
constexpr int kSpectrumLaunches = 2;            // outer forward on k, inner rows transform
constexpr double kHbmChunkBytes = double(FFC_MP_CHUNK_MIB) * (1 << 20);  // Z per chunk, HBM round trip
constexpr double kL2ChunkFraction = 5.0 / 8;    // Z per chunk, L2-resident: this share of the L2
constexpr double kLaunchTailWaves = 0.65;       // idle SM time per launch of a chunk, in waves (fit below)
constexpr double kL2ResidentHitRate = 0.5;      // share of Z crossings the L2 serves with L2-sized chunks
// Measured on the H100 (2026-11-22, ffc_bench candidates and Nsight Compute,
// fp16 forward): with L2-sized chunks (31 MiB) the L2 does serve Z — at 1M about
// 60 % of pass 1's and the inner pass's writes and 40-50 % of the inner and
// pass-3 reads never reach DRAM, and each kernel runs faster per item — but the
// many short launches leave the GPU idle between them, and the forward is slower
// overall: 32K 22.1 against 21.1 ms, 128K 122.7 against 105.8, 1M 986 against
// 895, 4M 4213 against 3975 (+5, +16, +10, +6 %). The idle time is charged as
// the tails; kLaunchTailWaves is fitted to those four (the model, eighth
// session: +2, +12, +12, +17 %).
// cuBLASLt outer passes (src/cuda/outer_gemm.hpp).
constexpr double kGemmOuterZCrossings = 10;     // per pass: A written and read, Z' written, twiddled in place
constexpr double kGemmFlopsPerMac = 8;          // one complex multiply-add
constexpr int kGemmLaunches = 7;                // per chunk: 3 + 3 outer kernels around the inner pass
// The complex fp32 GEMMs (k or n = M ≤ 1024, m = N_in) run at under half the
// fp32 peak; fitted to the H100 (fp16 forward with cuBLASLt outer passes against
// the direct ones: 128K (M = 32) 216 against 106 ms, 1M (M = 64) 2034 against
// 895, 4M (M = 256) 14317 against 3975, and M = 512 22817).
constexpr double kGemmEfficiency = 0.45;
// Calibration (H100 bench, 2026-11-22, every candidate timed by ffc_bench, fp16
// forward, ms scaled to B = 64, H = 768). The fused kernels' stages run at about
// 0.3 of the shared-memory bandwidth: with it the model is within −6 % and
// +35 % of every planner pick from 256 to 4M (twelfth session, measured /
// predicted: 256 0.083 / 0.078, 2K 0.49 / 0.61, 8K 2.40 / 3.23, 32K 12.2 / 15.0,
// 64K 32.5 / 36.6, 128K 70.8 / 85.2, 1M 624 / 682, 4M 2970 / 3529; the eighth
// session's kernels: −21 % to +35 %). (0.2 until the seventh session, when the kernels were
// slower: it priced the fused kernels 1.6-1.8× too high at 16K-32K against
// 1.2× for multi-pass and sent the H200 preset to multi-pass at 32K and 64K,
// measured slower there.) The outer passes move their bytes at about 0.8 of
// the copy bandwidth (with 512 MiB chunks: N = 256K 212 ms, 1M 874-882 ms for
// the best splits).
constexpr double kOnChipEfficiency = 0.3;
constexpr double kOuterHbmEfficiency = 0.8;
// Thread-block clusters: the cross-CTA stage moves (C−1)/C of a pair through
// distributed shared memory between cluster barriers. Extra shared-memory
// round trips per element a cluster of C CTAs costs, one fitted value per C.
// With direct I/O (stage 0 reads global memory and writes the partners, its
// inverse reads the partners and writes global memory), H100, eighth session:
// 16K C = 2 5.49 < one CTA 5.92; 32K C = 4 12.9 < C = 2 13.4 < multi-pass
// 21.1. C = 8 refitted in the twelfth session, once the multi-pass rows pass
// had become faster (fp16 forward, ms): H100 64K 16⁴ C = 8 32.0 < 8 × 2 × 16³
// C = 8 34.4 < multi-pass 35.2 < C = 4 38.8, 128K multi-pass 70.9 < C = 8
// 79.8; H200 64K multi-pass 31.0 < C = 8 31.9, 128K 63.0 < 79.6. (Every
// cluster variant now has direct I/O; the values without it are the seventh
// session's fit, 16K C = 2 6.09 > one CTA 5.84, 64K C = 8 38.6 < C = 4 45.3.)
// The values hold for two resident CTAs per SM (every variant they were fitted
// on); with R resident CTAs they scale by 2 / R, since the other CTAs' work
// hides the cluster barriers' waits: H100, fp16 forward, ms (thirty-second
// session): 32K C = 8 with four 34 KiB CTAs per SM 10.36–10.44 against C = 4
// with two 10.57–10.75 (but 16K C = 4 with four 4.64–4.80 against C = 2 with
// two 4.36–4.41, and 64K C = 16 with four 28.1–28.3 against C = 8 with two
// 26.7–27.0, which the scaling prices the other way round: neither is compiled).
constexpr double kClusterFitResidentCtas = 2.0;
constexpr double cluster_round_trips(int cluster, bool direct_io) {
    if (direct_io) return cluster >= 8 ? 4.4 : cluster >= 4 ? 2.0 : cluster >= 2 ? 1.3 : 0.0;
    return cluster >= 8 ? 2.5 : cluster >= 4 ? 0.36 : cluster >= 2 ? 1.2 : 0.0;
}
}  // namespace model

// CPU candidates: factorisations into these radices, at most this many factors
// (every N in [256, 4M] has one); the fallback set covers anything else.
const std::vector<int> kCpuRadices = {16, 32, 64, 128};
constexpr int kCpuMaxFactors = 4;
const std::vector<int> kCpuFallbackRadices = {2, 4, 8, 16, 32, 64, 128};

std::string strprintf(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    va_list copy;
    va_copy(copy, args);
    const int len = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    std::string out(len > 0 ? size_t(len) : 0, '\0');
    if (len > 0) std::vsnprintf(&out[0], size_t(len) + 1, fmt, args);
    va_end(args);
    return out;
}

std::string join_factors(const std::vector<int> &factors, const char *sep = " x ") {
    std::string s;
    for (size_t i = 0; i < factors.size(); ++i) s += (i ? sep : "") + std::to_string(factors[i]);
    return s;
}

// Time for `work` units at `rate` units per µs; a missing resource with work to do is infinitely slow.
double time_us(double work, double rate_per_us) {
    if (work <= 0) return 0;
    if (rate_per_us <= 0) return std::numeric_limits<double>::infinity();
    return work / rate_per_us;
}
double gbps_to_bytes_per_us(double gbps) { return gbps * 1e3; }
double tflops_to_flops_per_us(double tflops) { return tflops * 1e6; }

int max_threads_per_sm(const DeviceCaps &caps) {
    // sm_86 / sm_87 / sm_89 hold 1536 threads per SM; sm_80 and sm_90 hold 2048.
    const int sm = caps.sm();
    return (sm == 86 || sm == 87 || sm == 89) ? 1536 : 2048;
}

// fp32 FLOPs per complex element of a pair that every factorisation pays beside its
// stages: twiddles after all but the last stage in each direction, the spectrum
// product and the gates.
double common_fp32_flops_per_element(size_t order) {
    return 2.0 * double(order - 1) * model::kComplexMulFlops + model::kComplexMulFlops +
           model::kGateFlopsPerPairElement;
}

struct Workload {
    double sequences, pairs, channels, n, io_bytes_per_element;
    double io_streams;  // tensors of the sequences' shape read or written once each
};

constexpr double kGatedIoStreams = model::kStreamsRead + model::kStreamsWritten;

Workload workload(uint64_t fft_size, DType dtype, int64_t sequences, double io_streams = kGatedIoStreams) {
    Workload w;
    w.io_streams = io_streams;
    w.sequences = double(std::max<int64_t>(sequences, 1));
    w.pairs = std::ceil(w.sequences / 2);
    w.channels = std::ceil(w.sequences / double(kRefBatch));
    w.n = double(fft_size);
    w.io_bytes_per_element = double(dtype_size(dtype));
    return w;
}

double io_hbm_bytes(const Workload &w) {
    return w.sequences * w.n * w.io_bytes_per_element * w.io_streams + w.channels * w.n * model::kComplexBytes;
}

void finish(CostBreakdown &c, double active) {
    const double busiest = std::max({c.hbm_us, c.l2_us, c.smem_us, c.tensor_us, c.fp32_us});
    c.total_us = busiest / active + c.sync_us + c.launch_us;
}

// CTAs of a fused-kernel launch over `pairs` sequence pairs, and how many of
// them one SM holds (shared memory, threads up to the register file, the CTA cap).
double fused_ctas(const KernelVariant &k, double pairs) {
    return std::ceil(pairs / double(std::max(k.pairs_per_cta, 1))) * std::max(k.cluster, 1);
}
int resident_ctas(const KernelVariant &k, const DeviceCaps &caps) {
    const size_t smem_per_cta = k.smem_bytes + model::kSmemReservedPerCta;
    const int thread_limit = std::min(max_threads_per_sm(caps), model::kRegisterResidentThreads);
    const int resident = std::min<int>(int(caps.smem_per_sm / smem_per_cta), thread_limit / std::max(k.threads, 1));
    return std::max(1, std::min(resident, model::kMaxCtasPerSm));
}

CostBreakdown predict_fused_cuda(const Candidate &c, uint64_t fft_size, DType dtype, const DeviceCaps &caps,
                                 int64_t sequences, double io_streams = kGatedIoStreams) {
    const KernelVariant &k = *c.kernel;
    const Workload w = workload(fft_size, dtype, sequences, io_streams);
    const double order = double(c.factors.size());
    const double pair_elements = w.pairs * w.n;

    double tensor_per_element = 0, fp32_per_element = common_fp32_flops_per_element(c.factors.size());
    for (size_t i = 0; i < c.factors.size(); ++i) {
        const int r = c.factors[i];
        if (k.tensor_stage(int(i)))
            tensor_per_element += 2 * model::kSplitProducts * model::kTensorFlopsPerRadix * r;
        else
            fp32_per_element += 2 * model::kButterflyFlopsPerLog2 * std::log2(double(r));
    }

    CostBreakdown out;
    out.hbm_us = time_us(io_hbm_bytes(w), gbps_to_bytes_per_us(caps.hbm_gbps));
    const double l2_bytes = w.sequences * w.n * w.io_bytes_per_element * w.io_streams + pair_elements * model::kComplexBytes;
    out.l2_us = time_us(l2_bytes, gbps_to_bytes_per_us(caps.l2_gbps));
    // Direct I/O: stage 0 reads u and writes y itself, no load and store passes.
    const double round_trips = std::max(2 * order - (k.direct_io ? 1 : 0), model::kMinRoundTrips);
    // Occupancy and waves. An infeasible variant still gets a (nominal) price with one CTA per SM.
    const double ctas = fused_ctas(k, w.pairs);
    const int resident = resident_ctas(k, caps);
    const double cluster_round_trips = model::cluster_round_trips(k.cluster, k.direct_io != 0) *
                                       model::kClusterFitResidentCtas / resident;
    out.smem_us = time_us(pair_elements * model::kSmemRoundTripBytes * (round_trips + cluster_round_trips),
                          gbps_to_bytes_per_us(caps.smem_gbps * model::kOnChipEfficiency));
    out.tensor_us = time_us(pair_elements * tensor_per_element, tflops_to_flops_per_us(caps.tensor_tflops));
    out.fp32_us = time_us(pair_elements * fp32_per_element, tflops_to_flops_per_us(caps.fp32_tflops));

    const double sms = double(std::max(caps.sm_count, 1));
    const double waves = std::ceil(ctas / (sms * resident));
    out.sync_us = waves * round_trips * caps.sync_us;
    out.launch_us = model::kFusedLaunches * caps.launch_us;
    const double active = std::min(1.0, ctas / sms);
    finish(out, active);
    // I/O that no other resident CTA's work hides (see the model's header).
    out.total_us += out.hbm_us / resident / active;
    return out;
}

// Multi-pass CUDA path: the outer passes plus the inner variant run on P·M rows.
CostBreakdown predict_multipass_cuda(const Candidate &c, uint64_t fft_size, DType dtype, const DeviceCaps &caps,
                                     int64_t sequences) {
    const KernelVariant &k = *c.kernel;
    const Workload w = workload(fft_size, dtype, sequences);
    const double m = double(fft_size / k.fft_size);
    const double pair_elements = w.pairs * w.n;
    const bool gemm = c.outer == OuterImpl::cublaslt;

    // Z's crossings see HBM, or with L2-resident chunks partly the L2.
    const double hit = c.intermediates == Intermediates::l2_resident ? model::kL2ResidentHitRate : 0.0;
    const double z_gbps = 1.0 / ((1.0 - hit) / caps.hbm_gbps + (caps.l2_gbps > 0 ? hit / caps.l2_gbps : 0.0));
    DeviceCaps z_caps = caps;
    z_caps.hbm_gbps = z_gbps;

    Candidate inner;
    inner.factors = k.factor_list();
    inner.kernel = &k;
    // Pass 2: P·M rows of N_in complex fp32, each read and written once: as
    // fp32 sequences, 2·P·M of them and two streams (no gates).
    const CostBreakdown in = predict_fused_cuda(inner, k.fft_size, DType::f32, z_caps, int64_t(2 * w.pairs * m), 2);

    // Passes 1 and 3.
    const double z_bytes = pair_elements * model::kComplexBytes;
    const double io_bytes = io_hbm_bytes(w) + w.channels * w.n * model::kSpectrumPrepBytes;
    const double z_crossings = gemm ? model::kGemmOuterZCrossings : model::kOuterZCrossings;
    const double outer_hbm_us =
        time_us(io_bytes, gbps_to_bytes_per_us(caps.hbm_gbps * model::kOuterHbmEfficiency)) +
        time_us(z_crossings * z_bytes, gbps_to_bytes_per_us(z_gbps * model::kOuterHbmEfficiency));
    const double log2m = std::log2(m);
    double outer_smem = 0, outer_fp32 = 0, outer_fp32_rate = caps.fp32_tflops;
    if (gemm) {
        // Two GEMMs of 8·M FLOPs per element (L = N: every row holds data), the
        // twiddles as complex multiplies.
        outer_fp32 = pair_elements * 2 * (model::kGemmFlopsPerMac * m + model::kComplexMulFlops);
        outer_fp32_rate = caps.fp32_tflops * model::kGemmEfficiency;
    } else {
        const double stages = std::ceil(log2m / std::log2(double(model::kOuterRadix)));
        outer_smem = pair_elements * model::kSmemRoundTripBytes * 2 * (stages - 1);
        outer_fp32 = pair_elements * 2 * (model::kButterflyFlopsPerLog2 * log2m + model::kComplexMulFlops * stages);
    }
    const double outer_smem_us = time_us(outer_smem, gbps_to_bytes_per_us(caps.smem_gbps));
    const double outer_fp32_us = time_us(outer_fp32, tflops_to_flops_per_us(outer_fp32_rate));
    const double outer_us = std::max({outer_hbm_us, outer_smem_us, outer_fp32_us});

    // Chunks: their launches, and the partly filled last wave of each launch.
    const double chunks = std::ceil(z_bytes / std::max(double(c.chunk_bytes), w.n * model::kComplexBytes));
    const double sms = double(std::max(caps.sm_count, 1));
    const double inner_waves = std::max(1.0, fused_ctas(k, w.pairs * m) / (sms * resident_ctas(k, caps)));
    const double outer_waves = std::max(1.0, pair_elements / model::kOuterTile / (sms * model::kOuterResident));
    const double tails_us =
        chunks * model::kLaunchTailWaves * ((in.total_us - in.launch_us) / inner_waves + outer_us / outer_waves);

    // The breakdown lists each resource's time summed over the passes; the total
    // adds the passes (they are sequential kernels), each bound by its busiest term.
    CostBreakdown out;
    out.hbm_us = in.hbm_us + outer_hbm_us;
    out.l2_us = in.l2_us;
    out.smem_us = in.smem_us + outer_smem_us;
    out.tensor_us = in.tensor_us;
    out.fp32_us = in.fp32_us + outer_fp32_us;
    out.sync_us = in.sync_us + tails_us;
    const double launches = gemm ? model::kGemmLaunches : model::kMultipassLaunches;
    out.launch_us = (launches * chunks + model::kSpectrumLaunches) * caps.launch_us;
    out.total_us = (in.total_us - in.launch_us) + outer_us + tails_us + out.launch_us;
    return out;
}

CostBreakdown predict_host(const Candidate &c, uint64_t fft_size, DType dtype, const DeviceCaps &caps,
                           int64_t sequences) {
    const Workload w = workload(fft_size, dtype, sequences);
    const double order = double(c.factors.size());
    const double pair_elements = w.pairs * w.n;
    const double workers = double(std::max(caps.sm_count, 1));

    double fp32_per_element = common_fp32_flops_per_element(c.factors.size());
    for (int r : c.factors) fp32_per_element += 2 * model::kButterflyFlopsPerLog2 * std::log2(double(r));

    double dram_bytes = io_hbm_bytes(w), l2_bytes = 0, cache_bytes = 0;
    const double pass_bytes = pair_elements * model::kSmemRoundTripBytes * (2 * order + 1);
    const double buffer = w.n * model::kComplexBytes;
    if (buffer <= double(caps.smem_per_block))
        cache_bytes = pass_bytes;
    else if (buffer <= double(caps.l2_bytes) / workers)
        l2_bytes = pass_bytes;
    else
        dram_bytes += pass_bytes;

    CostBreakdown out;
    out.hbm_us = time_us(dram_bytes, gbps_to_bytes_per_us(caps.hbm_gbps));
    out.l2_us = time_us(l2_bytes, gbps_to_bytes_per_us(caps.l2_gbps));
    out.smem_us = time_us(cache_bytes, gbps_to_bytes_per_us(caps.smem_gbps));
    out.fp32_us = time_us(pair_elements * fp32_per_element, tflops_to_flops_per_us(caps.fp32_tflops));
    out.launch_us = caps.launch_us;
    finish(out, std::min(1.0, w.pairs / workers));
    return out;
}

// Deterministic order: feasible first, then cheaper, then fewer stages, then
// fewer stages through shared memory, then fewer tensor-core stages among those,
// then (multi-pass) the smaller outer size, then the smaller largest CUDA-core
// radix, then the factor list lexicographically (then the kernel name, for
// variants that differ only in tiling). Costs are compared at 1e-6 µs resolution so that
// two factorisations whose model terms are equal never order by rounding noise.
int64_t cost_key(double us) {
    if (!std::isfinite(us) || us > 1e12) return std::numeric_limits<int64_t>::max();
    return std::llround(us * 1e6);
}

// The model charges every stage one shared-memory round trip, but the fused CUDA
// kernels run the innermost tensor-core stage, and with two or more of them the
// two innermost, in registers (fused_conv.cuh, middle stage). Between candidates
// the model prices alike, the ones with fewer stages left to shared memory, and
// then fewer tensor-core stages among those (a CUDA-core radix-8 stage costs
// less than a radix-16 one on tensor cores), measured faster on the H100: 512
// 2x16x16 0.151 ms against 8x4x16 0.159, 1K 4x16x16 0.269 against 8x8x16 0.287,
// 16K with two-CTA clusters 8x8x16x16 5.27 against 4x16x16x16 5.44. The
// multi-pass splits are keyed on their inner kernel, which runs the rows the
// same way: where the model prices the splits alike, the H100 measured (twelfth
// session) 128K 64 x 8x16x16 70.9 ms against 128 x 4x16x16 71.4 and
// 32 x 16x16x16 74.1, 256K 128 x 8x16x16 142.9 against 64 x 16x16x16 148.9,
// 512K 256 x 8x16x16 299.3 against 128 x 16x16x16 301.4. Two CUDA-core
// stages of equal butterfly count order by their largest radix, the balanced
// pair first (a radix-16 CUDA-core stage holds twice the registers of data and
// twiddles): H100, forward fp16, 8K 8x4x16x16 2.23 ms against 2x16cx16x16
// 2.32, 16K with two-CTA clusters 8x8x16x16 4.75 against 4x16cx16x16 5.04.
// Multi-pass splits compare that only at the same outer size (4M: 256 x
// 8x8x16x16, not 4x16cx16x16); across outer sizes the smaller M comes first,
// as the factor lists ordered them before (128K: 64 x 8x16x16, not 256 x
// 2x16x16, 78.2 ms against 72.2).
struct StagesInSharedMemory {
    int all = 0, tensor = 0, largest_cuda_core_radix = 0;
};
StagesInSharedMemory stages_in_shared_memory(const Candidate &c) {
    if (c.kernel == nullptr) return {};
    const KernelVariant &k = *c.kernel;
    const int tensor = k.tensor_stages;
    const int in_registers = tensor >= 2 ? 2 : tensor;
    int largest = 0;
    for (int i = 0; i < k.num_factors; ++i)
        if (!k.tensor_stage(i)) largest = std::max(largest, k.factors[i]);
    return {k.num_factors - in_registers, tensor - in_registers, largest};
}

bool cheaper(const Candidate &a, const Candidate &b) {
    const auto key = [](const Candidate &c) {
        const StagesInSharedMemory s = stages_in_shared_memory(c);
        const int outer = c.path == Path::multipass && !c.factors.empty() ? c.factors.front() : 0;
        return std::make_tuple(!c.feasible, cost_key(c.cost.total_us), c.factors.size(), s.all, s.tensor, outer,
                               s.largest_cuda_core_radix, c.factors, c.name());
    };
    return key(a) < key(b);
}

std::string infeasibility_reason(const KernelVariant &v, uint64_t n, const DeviceCaps &caps) {
    std::string why;
    auto add = [&why](const std::string &s) { why += (why.empty() ? "" : "; ") + s; };
    if (v.fft_size != n) add(strprintf("is for N=%llu", (unsigned long long)v.fft_size));
    if (caps.sm() < v.min_sm) add(strprintf("needs sm_%d or newer, device is sm_%d", v.min_sm, caps.sm()));
    if (v.smem_bytes > caps.smem_per_block)
        add(strprintf("needs %zu B of shared memory, device allows %zu", v.smem_bytes, caps.smem_per_block));
    if (v.cluster > caps.max_cluster)
        add(strprintf("needs thread-block clusters of %d CTAs, device allows %d", v.cluster, caps.max_cluster));
    return why;
}

void check_fft_size(uint64_t n) {
    if (!is_pow2(n) || n < FFC_MIN_FFT_SIZE || n > FFC_MAX_FFT_SIZE)
        fail(FFC_ERROR_INVALID_FFT_SIZE, "fft_size = " + std::to_string(n) + " (must be a power of two from " +
                                             std::to_string(FFC_MIN_FFT_SIZE) + " to " + std::to_string(FFC_MAX_FFT_SIZE) + ")");
}

void check_forced(const std::vector<int> &forced, uint64_t n) {
    if (forced.size() > size_t(FFC_MAX_FACTORS))
        fail(FFC_ERROR_INVALID_FLAGS, "forced factorisation has " + std::to_string(forced.size()) +
                                          " factors, at most " + std::to_string(FFC_MAX_FACTORS) + " are allowed");
    uint64_t product = 1;
    bool too_large = false;
    for (int r : forced) {
        if (r < 2 || !is_pow2(uint64_t(r)))
            fail(FFC_ERROR_INVALID_FLAGS, "forced factor " + std::to_string(r) + " is not a power of two >= 2");
        if (product > n / uint64_t(r)) too_large = true;  // would exceed N (and might overflow)
        else product *= uint64_t(r);
    }
    if (too_large || product != n)
        fail(FFC_ERROR_INVALID_FLAGS, "forced factorisation " + join_factors(forced) + " multiplies to " +
                                          (too_large ? std::string("more than N") : std::to_string(product)) +
                                          ", not N = " + std::to_string(n));
}

Candidate priced(Candidate c, uint64_t n, DType dtype, const DeviceCaps &caps, int64_t sequences) {
    c.cost = predict(c, n, dtype, caps, sequences);
    return c;
}

std::vector<Candidate> cpu_candidates(uint64_t n, DType dtype, const DeviceCaps &caps, int64_t sequences,
                                      const std::vector<int> &forced) {
    std::vector<std::vector<int>> lists = monarch::enumerate_factorizations(n, kCpuRadices, kCpuMaxFactors);
    if (lists.empty()) lists = monarch::enumerate_factorizations(n, kCpuFallbackRadices, FFC_MAX_FACTORS);
    // Any power-of-two factorisation is executable on the host, so a forced one
    // outside the enumerated set joins the candidates rather than being refused.
    if (!forced.empty() && std::find(lists.begin(), lists.end(), forced) == lists.end()) lists.push_back(forced);

    std::vector<Candidate> out;
    for (const std::vector<int> &f : lists) {
        Candidate c;
        c.factors = f;
        c.path = Path::fused;
        c.feasible = true;
        out.push_back(priced(std::move(c), n, dtype, caps, sequences));
    }
    return out;
}

std::vector<Candidate> cuda_candidates(uint64_t n, DType dtype, const DeviceCaps &caps, int64_t sequences) {
    // Fused path: one precompiled variant per candidate.
    std::vector<Candidate> out;
    for (const KernelVariant &v : kernel_table()) {
        if (v.fft_size != n) continue;
        Candidate c;
        c.factors = v.factor_list();
        c.path = Path::fused;
        c.kernel = &v;
        c.smem_bytes = v.smem_bytes;
        c.feasible = v.can_implement(n, caps);
        if (!c.feasible) c.reason = infeasibility_reason(v, n, caps);
        out.push_back(priced(std::move(c), n, dtype, caps, sequences));
    }
    return out;
}

// Multi-pass path (N above the largest fused size): N = M·N_in for every compiled
// variant of size N_in; factors = {M} then the inner variant's; `kernel` is the
// inner variant (run in mode_rows), and the candidate is feasible when the inner
// variant can run on the device. Each split with 2 ≤ M ≤ kMaxOuter comes three
// ways: direct outer passes through HBM, direct outer passes with L2-resident
// chunks, cuBLASLt outer passes through HBM; a split with kMaxOuter < M ≤
// kMaxGemmOuter only with cuBLASLt outer passes.
std::vector<Candidate> multipass_candidates(uint64_t n, DType dtype, const DeviceCaps &caps, int64_t sequences) {
    std::vector<Candidate> out;
    const size_t l2_chunk = size_t(double(caps.l2_bytes) * model::kL2ChunkFraction);
    for (const KernelVariant &v : kernel_table()) {
        if (v.fft_size == 0 || v.fft_size >= n || n % v.fft_size != 0) continue;
        const uint64_t m = n / v.fft_size;
        if (m < 2 || m > uint64_t(kMaxGemmOuter)) continue;
        if (size_t(v.num_factors) + 1 > size_t(FFC_MAX_FACTORS)) continue;
        // Cluster variants are not offered as the inner kernel: measured on the H100
        // (2026-11-22, 512 MiB chunks) the rows pass is slower with them (4M: 3995 ms
        // with 16K_c2 rows, 4130 with 32K_c4, 4363 with 64K_c8, against 3946 with
        // the one-CTA 16K variant; 1M: 966 with 16K_c2 against 949). The CUDA
        // backend relies on this: it builds the multi-pass backward's dk pass
        // (mode_rows_dk) for one-CTA variants only.
        if (v.cluster > 1) continue;
        Candidate c;
        c.factors.push_back(int(m));
        for (int r : v.factor_list()) c.factors.push_back(r);
        c.path = Path::multipass;
        c.kernel = &v;
        c.smem_bytes = v.smem_bytes;
        c.feasible = v.can_implement(v.fft_size, caps);
        if (!c.feasible) c.reason = "inner kernel " + infeasibility_reason(v, v.fft_size, caps);
        c.chunk_bytes = size_t(model::kHbmChunkBytes);
        const bool direct = m <= uint64_t(model::kMaxOuter) && v.fft_size >= uint64_t(model::kOuterTile) / m;
        if (direct) {
            out.push_back(priced(c, n, dtype, caps, sequences));
            if (l2_chunk > 0) {
                Candidate l2 = c;
                l2.intermediates = Intermediates::l2_resident;
                l2.chunk_bytes = l2_chunk;
                out.push_back(priced(std::move(l2), n, dtype, caps, sequences));
            }
        }
        c.outer = OuterImpl::cublaslt;
        out.push_back(priced(std::move(c), n, dtype, caps, sequences));
    }
    return out;
}

// Largest N that one CTA fuses (cluster variants go further on Hopper). Above it
// the multi-pass path is always a candidate: it runs on every device, and where a
// cluster variant of size N exists the cost model chooses between the two.
uint64_t largest_one_cta_size() {
    uint64_t m = 0;
    for (const KernelVariant &v : kernel_table())
        if (v.cluster <= 1) m = std::max(m, v.fft_size);
    return m;
}

std::string device_label(const DeviceCaps &caps) {
    return caps.name.empty() ? std::string("an unnamed device") : caps.name;
}

// A caller-supplied name, safe to quote in a message.
std::string printable(const std::string &s) {
    std::string out;
    for (unsigned char ch : s) {
        if (ch >= 0x20 && ch < 0x7f) out += char(ch);
        else out += strprintf("\\x%02x", ch);
    }
    return out;
}

// The candidate whose kernel column (see describe) reads `name`; make_plan's
// force_kernel. `d` holds every candidate for N, sorted.
const Candidate &candidate_named(const Decision &d, const std::string &name, const std::vector<int> &forced_factors,
                                 const std::string &where) {
    const Candidate *found = nullptr;
    for (const Candidate &c : d.candidates) {
        if (!c.kernel || name != c.name()) continue;
        // Unique by construction (see planner.hpp); a registry that broke it would
        // make the name ambiguous, which must not pass silently.
        if (found) fail(FFC_ERROR_INTERNAL, "kernel name " + name + " names two candidates for " + where);
        found = &c;
    }
    if (!found) {
        std::string names;
        for (const Candidate &c : d.candidates)
            if (c.kernel) names += (names.empty() ? "" : ", ") + c.name();
        std::string elsewhere;
        for (const KernelVariant &v : kernel_table())
            if (name == v.name) elsewhere = strprintf(" (%s is a kernel of size %llu, not a candidate here)", v.name,
                                                      (unsigned long long)v.fft_size);
        fail(FFC_ERROR_NO_KERNEL, "force_kernel = \"" + printable(name) + "\" is not a compiled candidate for " + where +
                                      elsewhere + "; the candidates are: " + names);
    }
    const Candidate &c = *found;
    if (!forced_factors.empty() && forced_factors != c.factors)
        fail(FFC_ERROR_INVALID_FLAGS, "force_factors " + join_factors(forced_factors) + " disagree with force_kernel " +
                                          name + ", whose factorisation is " + join_factors(c.factors) +
                                          " (set one of the two, or both consistently)");
    if (!c.feasible)
        fail(FFC_ERROR_NO_KERNEL, "the forced kernel " + name + " (" + join_factors(c.factors) +
                                      (c.path == Path::multipass ? ", multi-pass" : "") + ") cannot run for " + where +
                                      ": " + c.reason);
    return c;
}

}  // namespace

std::string Candidate::name() const {
    if (!kernel) return "cpu_monarch";
    std::string s = kernel->name;
    if (path == Path::multipass) {
        if (intermediates == Intermediates::l2_resident) s += "+l2";
        if (outer == OuterImpl::cublaslt) s += "+cublaslt";
    }
    return s;
}

double Decision::predicted_us_per_sequence() const {
    return ref_sequences > 0 ? chosen.cost.total_us / double(ref_sequences) : 0.0;
}

CostBreakdown predict(const Candidate &c, uint64_t fft_size, DType dtype, const DeviceCaps &caps, int64_t sequences) {
    if (c.factors.empty()) fail(FFC_ERROR_INTERNAL, "predict: candidate has no factors");
    if (c.path == Path::multipass) {
        if (!c.kernel || c.kernel->fft_size == 0 || fft_size % c.kernel->fft_size != 0)
            fail(FFC_ERROR_INTERNAL, "predict: multi-pass candidate without a fitting inner kernel");
        return predict_multipass_cuda(c, fft_size, dtype, caps, sequences);
    }
    return c.kernel ? predict_fused_cuda(c, fft_size, dtype, caps, sequences)
                    : predict_host(c, fft_size, dtype, caps, sequences);
}

Decision make_plan(uint64_t fft_size, DType dtype, Backend backend, const DeviceCaps &caps,
                   const std::vector<int> &forced_factors, const std::string &forced_kernel) {
    check_fft_size(fft_size);
    if (!forced_factors.empty()) check_forced(forced_factors, fft_size);
    if (backend != Backend::cpu && backend != Backend::cuda)
        fail(FFC_ERROR_INVALID_BACKEND, "make_plan needs a resolved backend (cpu or cuda)");
    if (!forced_kernel.empty() && backend == Backend::cpu)
        fail(FFC_ERROR_NO_KERNEL, "force_kernel = \"" + printable(forced_kernel) +
                                      "\", but the CPU backend has no kernel variants (its candidates are "
                                      "factorisations: use force_factors)");

    Decision d;
    d.fft_size = fft_size;
    d.dtype = dtype;
    d.backend = backend;
    d.caps = caps;
    d.ref_sequences = kRefBatch * kRefChannels;

    const std::string where = "N=" + std::to_string(fft_size) + " on " + device_label(caps);
    if (backend == Backend::cpu) {
        d.candidates = cpu_candidates(fft_size, dtype, caps, d.ref_sequences, forced_factors);
    } else {
        d.candidates = cuda_candidates(fft_size, dtype, caps, d.ref_sequences);
        // Above the one-CTA limit, or where no fused variant of size N fits this
        // device (16K on a 99 KiB RTX 4090), the multi-pass splits are candidates.
        const uint64_t limit = largest_one_cta_size();
        const bool fused_fits = std::any_of(d.candidates.begin(), d.candidates.end(),
                                            [](const Candidate &c) { return c.feasible; });
        if (fft_size > limit || !fused_fits) {
            std::vector<Candidate> mp = multipass_candidates(fft_size, dtype, caps, d.ref_sequences);
            if (mp.empty() && d.candidates.empty())
                fail(FFC_ERROR_NO_KERNEL, "no multi-pass split N = M x N_in (M <= " + std::to_string(kMaxGemmOuter) +
                                              ", N_in a compiled fused size <= " + std::to_string(limit) + ") for " + where);
            d.candidates.insert(d.candidates.end(), mp.begin(), mp.end());
        }
        if (d.candidates.empty()) fail(FFC_ERROR_NO_KERNEL, "no compiled kernel variant for " + where);
    }
    std::stable_sort(d.candidates.begin(), d.candidates.end(), cheaper);

    if (!forced_kernel.empty()) {
        d.chosen = candidate_named(d, forced_kernel, forced_factors, where);
        return d;
    }
    if (!forced_factors.empty()) {
        auto it = std::find_if(d.candidates.begin(), d.candidates.end(),
                               [&](const Candidate &c) { return c.factors == forced_factors; });
        if (it == d.candidates.end()) {
            std::string compiled;
            for (const Candidate &c : d.candidates) compiled += (compiled.empty() ? "" : ", ") + join_factors(c.factors);
            fail(FFC_ERROR_NO_KERNEL, "no compiled kernel implements the forced factorisation " +
                                          join_factors(forced_factors) + " for " + where + " (compiled: " + compiled + ")");
        }
        if (!it->feasible)
            fail(FFC_ERROR_NO_KERNEL, std::string("the forced factorisation ") + join_factors(forced_factors) + " (" +
                                          it->kernel->name + ") cannot run for " + where + ": " + it->reason);
        d.chosen = *it;
        return d;
    }

    if (!d.candidates.front().feasible) {
        std::string why;
        for (const Candidate &c : d.candidates)
            why += std::string(why.empty() ? "" : "; ") + c.kernel->name + " " + c.reason;
        if (d.candidates.front().path == Path::multipass)
            fail(FFC_ERROR_NO_KERNEL, "no inner kernel of the multi-pass path fits " + where + ": " + why);
        fail(FFC_ERROR_NO_KERNEL, "no fused kernel fits " + where + ": " + why);
    }
    d.chosen = d.candidates.front();
    return d;
}

std::string describe(const Decision &d) {
    const Candidate &c = d.chosen;
    const bool cuda = d.backend == Backend::cuda;
    const CostBreakdown &k = c.cost;

    // The model term that bounds the chosen candidate (sync and launch are added on top).
    // On the host the memory terms stand for DRAM, the last-level cache and a core's private cache.
    const std::pair<const char *, double> terms[] = {
        {cuda ? "HBM bandwidth" : "DRAM bandwidth", k.hbm_us},
        {cuda ? "L2 bandwidth" : "last-level cache bandwidth", k.l2_us},
        {cuda ? "shared-memory bandwidth" : "private cache bandwidth", k.smem_us},
        {"tensor-core throughput", k.tensor_us},
        {"fp32 throughput", k.fp32_us}};
    const auto *dominant = &terms[0];
    for (const auto &t : terms)
        if (t.second > dominant->second) dominant = &t;

    const Candidate *best = nullptr;
    for (const Candidate &x : d.candidates)
        if (x.feasible) { best = &x; break; }
    // A chosen candidate other than the cheapest feasible one can only come from
    // force_factors or force_kernel.
    const bool forced = best && (best->factors != c.factors || best->name() != c.name() || best->path != c.path);

    std::string s;
    s += "libflashfftconv plan\n";
    s += strprintf("  backend        %s\n", backend_name(d.backend));
    if (cuda)
        s += strprintf("  device         %s (sm_%d, %d SMs, %zu B shared memory per block)\n", d.caps.name.c_str(),
                       d.caps.sm(), d.caps.sm_count, d.caps.smem_per_block);
    else
        s += strprintf("  device         %s (%d worker threads modelled)\n", d.caps.name.c_str(), d.caps.sm_count);
    s += strprintf("  fft size       %llu\n", (unsigned long long)d.fft_size);
    s += strprintf("  dtype          %s\n", dtype_name(d.dtype));
    if (c.path == Path::fused)
        s += strprintf("  path           %s\n", cuda ? "fused (one kernel)" : "fused (per sequence pair)");
    else
        s += strprintf("  path           multi-pass: N = %d x %llu; outer %d-point passes (%s), inner kernel %s on rows;\n"
                       "                 Z in chunks of %.4g MiB (%s)\n",
                       c.factors.front(), (unsigned long long)(c.kernel ? c.kernel->fft_size : 0), c.factors.front(),
                       c.outer == OuterImpl::cublaslt ? "cuBLASLt complex fp32 GEMMs" : "CUDA cores",
                       c.kernel ? c.kernel->name : "?", double(c.chunk_bytes) / double(1 << 20),
                       c.intermediates == Intermediates::l2_resident ? "sized to stay in the L2" : "a round trip through HBM");
    std::string factorisation = join_factors(c.factors) + " (order " + std::to_string(c.factors.size()) + ")";
    if (forced)
        factorisation += ", forced; the planner's own pick is " + join_factors(best->factors) +
                         (best->kernel ? " (" + best->name() + ")" : std::string());
    s += "  factorisation  " + factorisation + "\n";
    s += strprintf("  kernel         %s%s\n", c.name().c_str(),
                   c.path == Path::multipass ? " (inner, mode_rows)" : "");
    if (cuda) s += strprintf("  shared memory  %zu B per CTA\n", c.smem_bytes);
    s += strprintf("  predicted      %.4g us per sequence; %.1f us for the reference workload (B*H = %lld sequences, L = N, gated)\n",
                   d.predicted_us_per_sequence(), k.total_us, (long long)d.ref_sequences);
    s += strprintf("  bound by       %s (%.1f us; sync %.1f us, launch %.1f us on top)\n", dominant->first,
                   dominant->second, k.sync_us, k.launch_us);

    s += strprintf("candidates (%zu, cheapest first; model terms in us for the reference workload):\n", d.candidates.size());
    s += strprintf("  %-22s %-34s %8s %9s %9s %9s %9s %9s %8s %7s %10s  %s\n", "factors", "kernel", "smem B", cuda ? "hbm" : "dram",
                   cuda ? "l2" : "llc", cuda ? "smem" : "cache", "tensor", "fp32", "sync", "launch", "total", "status");
    for (const Candidate &x : d.candidates) {
        const CostBreakdown &b = x.cost;
        const bool is_chosen = x.factors == c.factors && x.name() == c.name() && x.path == c.path;
        std::string status = !x.feasible ? "infeasible: " + x.reason : (is_chosen ? "chosen" : "ok");
        s += strprintf("  %-22s %-34s %8zu %9.1f %9.1f %9.1f %9.1f %9.1f %8.1f %7.1f %10.1f  %s\n",
                       join_factors(x.factors).c_str(), x.name().c_str(), x.smem_bytes,
                       b.hbm_us, b.l2_us, b.smem_us, b.tensor_us, b.fp32_us, b.sync_us, b.launch_us, b.total_us,
                       status.c_str());
    }
    return s;
}

}  // namespace ffc::plan
