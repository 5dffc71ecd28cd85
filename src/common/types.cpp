#include "common/types.hpp"

namespace ffc {

const char *dtype_name(DType t) {
    switch (t) {
    case DType::f32: return "fp32";
    case DType::f16: return "fp16";
    case DType::bf16: return "bf16";
    }
    return "?";
}

const char *backend_name(Backend b) {
    switch (b) {
    case Backend::automatic: return "auto";
    case Backend::cpu: return "cpu";
    case Backend::cuda: return "cuda";
    }
    return "?";
}

}  // namespace ffc
