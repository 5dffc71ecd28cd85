// The CUDA backend's overlap-save window copies and fp32 accumulation (the
// primitives of Executor::gather_windows / scatter_windows / accumulate). No
// CUDA headers, so the executor's plain C++ can include it. Each call launches
// one kernel on c.stream and throws ffc::Error if the launch fails; the caller
// guards the device.
#pragma once

#include <cstdint>

#include "common/windows.hpp"

namespace ffc::cuda {

void launch_gather_windows(const WindowCopy &c);
void launch_scatter_windows(const WindowCopy &c);
void launch_accumulate(float *dst, const float *src, int64_t n, void *stream);

}  // namespace ffc::cuda
