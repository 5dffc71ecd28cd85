// Host-side CUDA services the API layer needs (compiled only when FFC_WITH_CUDA).
// Kept free of CUDA headers so that plain C++ translation units can include it.
#pragma once

#include <string>

#include "plan/device_caps.hpp"

namespace ffc::cuda {

int device_count();                         // 0 when no driver or no device
int current_device();
plan::DeviceCaps query_device_caps(int device);  // throws ffc::Error
std::string runtime_version_string();
// Throws FFC_ERROR_INVALID_POINTER unless `ptr` is device (or managed) memory
// usable on `device`; `name` goes into the message.
void check_device_pointer(const void *ptr, const char *name, int device);

}  // namespace ffc::cuda
