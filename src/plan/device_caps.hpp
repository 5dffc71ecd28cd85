// What the planner needs to know about a device. Read from the GPU when there is
// one (src/cuda), or taken from a preset so planning is testable on any machine.
#pragma once

#include <string>
#include <vector>

namespace ffc::plan {

struct DeviceCaps {
    std::string name;
    int sm_major = 0, sm_minor = 0;   // compute capability (0.0 for the host CPU)
    int sm_count = 0;
    size_t smem_per_block = 0;        // opt-in dynamic shared memory per CTA, bytes
    size_t smem_per_sm = 0;
    size_t l2_bytes = 0;
    double hbm_gbps = 0;              // device-memory bandwidth, GB/s (bytes read + written)
    double l2_gbps = 0;
    double smem_gbps = 0;             // aggregate shared-memory bandwidth, GB/s
    double tensor_tflops = 0;         // dense 16-bit mma.sync throughput, TFLOP/s
    double fp32_tflops = 0;           // CUDA-core fp32 FMA throughput (counting 2 per FMA)
    double launch_us = 0;             // cost of one kernel launch
    double sync_us = 0;               // cost of one CTA-wide barrier round (per stage)
    int max_cluster = 1;              // thread-block cluster size supported (Hopper: 8..16)

    int sm() const { return sm_major * 10 + sm_minor; }
};

// Presets: "a100", "h100", "h200", "rtx4090", "cpu". Throws ffc::Error for an unknown name.
DeviceCaps device_preset(const std::string &name);
std::vector<std::string> device_preset_names();

}  // namespace ffc::plan
