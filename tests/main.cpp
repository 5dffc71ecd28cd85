// Test runner. A run that selects [gpu] tests on a machine without a CUDA device
// exits with 77, which ctest reports as "skipped" rather than passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>

#include "flashfftconv/flashfftconv.h"

int main(int argc, char *argv[]) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "[gpu]") == 0 && !ffc_backend_available(FFC_BACKEND_CUDA)) {
            std::printf("no CUDA device: the [gpu] tests are skipped\n");
            return 77;
        }
    }
    return Catch::Session().run(argc, argv);
}
