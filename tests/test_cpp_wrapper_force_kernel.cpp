// The header-only C++ wrapper's PlanDesc::force_kernel: the descriptor owns the
// name (copies and moves keep a valid pointer), and the library's answer comes
// back as flashfftconv::Error. CPU backend only.
#include <catch2/catch.hpp>

#include <string>
#include <utility>

#include "flashfftconv/flashfftconv.hpp"

namespace fw = flashfftconv;

TEST_CASE("C++ wrapper: PlanDesc::force_kernel owns its name and reaches the library", "[cpu][api]") {
    fw::PlanDesc d;
    CHECK(d.c_desc().force_kernel == nullptr);
    CHECK(d.c_desc().version == FFC_PLAN_DESC_VERSION);
    d.fft_size(1024).dtype(fw::DType::fp32).backend(fw::Backend::cpu);

    std::string name = "fused_n1024_4x16x16";
    d.force_kernel(name);
    name.assign(40, 'x');  // the descriptor keeps its own copy
    REQUIRE(d.c_desc().force_kernel != nullptr);
    CHECK(std::string(d.c_desc().force_kernel) == "fused_n1024_4x16x16");

    const fw::PlanDesc copy = d;  // the copy points at its own string, not at d's
    REQUIRE(copy.c_desc().force_kernel != nullptr);
    CHECK(copy.c_desc().force_kernel != d.c_desc().force_kernel);
    CHECK(std::string(copy.c_desc().force_kernel) == "fused_n1024_4x16x16");
    fw::PlanDesc moved = std::move(d);
    REQUIRE(moved.c_desc().force_kernel != nullptr);
    CHECK(std::string(moved.c_desc().force_kernel) == "fused_n1024_4x16x16");
    fw::PlanDesc assigned;
    assigned = moved;
    CHECK(std::string(assigned.c_desc().force_kernel) == "fused_n1024_4x16x16");

    // The CPU backend has no kernel variants.
    try {
        fw::Plan plan(moved);
        FAIL("a CPU plan accepted force_kernel");
    } catch (const fw::Error &e) {
        CHECK(e.status() == FFC_ERROR_NO_KERNEL);
        CHECK_THAT(e.message(), Catch::Contains("CPU backend"));
    }
    // Empty: the planner decides again.
    moved.force_kernel("");
    CHECK(moved.c_desc().force_kernel == nullptr);
    fw::Plan plan(moved);
    CHECK(plan.info().fft_size == 1024);
}
