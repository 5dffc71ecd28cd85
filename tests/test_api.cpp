// The C API contract, exercised through the public header only with the CPU
// backend: every entry point rejects bad input with its documented status, a
// thread-local message that names the offending field, and outputs that are
// byte-for-byte untouched. Also the information functions and the thread-safety
// promise (concurrent execute calls on one plan).
//
// Numerical accuracy is not tested here (see test_cpu_backend.cpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "flashfftconv/flashfftconv.h"

using Catch::Matchers::Contains;

namespace {

constexpr unsigned char kPoison = 0xA5;

// The calling thread's last error message, read through the public API. No
// Catch2 assertion here: it is also called from worker threads, and Catch2's
// assertion macros are not thread-safe.
std::string last_error() {
    const size_t n = ffc_last_error_message(nullptr, 0);
    std::vector<char> buf(n + 1, 'x');
    const size_t again = ffc_last_error_message(buf.data(), buf.size());
    return again == n ? std::string(buf.data()) : std::string("<message length changed>");
}

// Checks a failed call: the expected status, and a non-empty message that names `field`.
void require_error(ffc_status_t got, ffc_status_t want, const std::string &field) {
    INFO("status " << int(got) << " (" << ffc_status_string(got) << "), want " << int(want));
    REQUIRE(got == want);
    const std::string msg = last_error();
    INFO("message: \"" << msg << "\"");
    REQUIRE_FALSE(msg.empty());
    CHECK_THAT(msg, Contains(field, Catch::CaseSensitive::No));
}

// A host buffer filled with a poison pattern, with slack on both sides of the
// aligned region so that a misaligned pointer into it is still in bounds and a
// stray write anywhere (including before or after the region) is detected.
class Buffer {
public:
    explicit Buffer(size_t bytes) : bytes_(bytes), storage_(bytes + 256, kPoison) {
        const uintptr_t raw = reinterpret_cast<uintptr_t>(storage_.data());
        offset_ = size_t((128 - raw % 128) % 128);
    }
    Buffer(const Buffer &) = delete;  // a copy would not keep the alignment offset
    Buffer &operator=(const Buffer &) = delete;
    Buffer(Buffer &&) = default;      // moving keeps the heap block, hence the offset
    unsigned char *data() { return storage_.data() + offset_; }
    template <class T> T *as() { return reinterpret_cast<T *>(data()); }
    void *misaligned(size_t by) { return data() + by; }
    size_t size() const { return bytes_; }
    void poison() { std::fill(storage_.begin(), storage_.end(), kPoison); }
    bool untouched() const {
        return std::all_of(storage_.begin(), storage_.end(), [](unsigned char c) { return c == kPoison; });
    }

private:
    size_t bytes_;
    std::vector<unsigned char> storage_;
    size_t offset_ = 0;
};

ffc_plan_desc_t cpu_desc(uint64_t n, ffc_dtype_t dtype = FFC_DTYPE_FP32) {
    ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
    d.fft_size = n;
    d.dtype = dtype;
    d.backend = FFC_BACKEND_CPU;
    d.cpu_threads = 2;
    return d;
}

// Owns a plan for the duration of a test.
struct Plan {
    ffc_plan_t p = nullptr;
    explicit Plan(const ffc_plan_desc_t &d) {
        const ffc_status_t st = ffc_plan_create(&p, &d);
        INFO("ffc_plan_create: " << ffc_status_string(st) << ": " << last_error());
        REQUIRE(st == FFC_SUCCESS);
        REQUIRE(p != nullptr);
    }
    ~Plan() { ffc_plan_destroy(p); }
    Plan(const Plan &) = delete;
    Plan &operator=(const Plan &) = delete;
};

// Random values encoded in the plan's dtype (inputs must be finite for the
// successful baseline calls; their values do not matter otherwise).
uint16_t to_half_bits(float f) {
    // Values used here are in [-1, 1] and normal or zero: a simple truncating
    // encoder is enough (this is test data, not a conversion under test).
    if (f == 0.0f) return 0;
    uint32_t u;
    std::memcpy(&u, &f, 4);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const int exp = int((u >> 23) & 0xff) - 127 + 15;
    if (exp <= 0) return uint16_t(sign);
    return uint16_t(sign | uint32_t(exp) << 10 | ((u >> 13) & 0x3ffu));
}

void fill_random(Buffer &b, ffc_dtype_t dtype, size_t count, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (size_t i = 0; i < count; ++i) {
        const float v = dist(rng);
        if (dtype == FFC_DTYPE_FP32) {
            b.as<float>()[i] = v;
        } else if (dtype == FFC_DTYPE_FP16) {
            b.as<uint16_t>()[i] = to_half_bits(v);
        } else {  // bf16: the top half of the fp32 bits
            uint32_t u;
            std::memcpy(&u, &v, 4);
            b.as<uint16_t>()[i] = uint16_t(u >> 16);
        }
    }
}

size_t dtype_bytes(ffc_dtype_t t) { return t == FFC_DTYPE_FP32 ? 4 : 2; }

// Every tensor of one problem, valid and poisoned where they are outputs.
struct Problem {
    ffc_shape_t shape;
    size_t elems, k_elems;
    Buffer u, k, in_gate, out_gate, y, dy, du, dk, d_in_gate, d_out_gate;
    size_t ws_size = 0;
    Buffer ws;

    Problem(ffc_plan_t plan, ffc_dtype_t t, ffc_shape_t s)
        : shape(s), elems(size_t(s.batch * s.channels * s.seq_len)),
          k_elems(size_t(s.channels * s.kernel_len)), u(elems * dtype_bytes(t)), k(k_elems * 4),
          in_gate(elems * dtype_bytes(t)), out_gate(elems * dtype_bytes(t)), y(elems * dtype_bytes(t)),
          dy(elems * dtype_bytes(t)), du(elems * dtype_bytes(t)), dk(k_elems * 4),
          d_in_gate(elems * dtype_bytes(t)), d_out_gate(elems * dtype_bytes(t)),
          ws(workspace_bytes(plan, s)) {
        ws_size = ws.size();
        fill_random(u, t, elems, 1);
        fill_random(k, FFC_DTYPE_FP32, k_elems, 2);
        fill_random(in_gate, t, elems, 3);
        fill_random(out_gate, t, elems, 4);
        fill_random(dy, t, elems, 5);
    }

    static size_t workspace_bytes(ffc_plan_t plan, ffc_shape_t s) {
        size_t n = 0;
        REQUIRE(ffc_plan_get_workspace_size(plan, &s, &n) == FFC_SUCCESS);
        return n;
    }
    void *ws_ptr() { return ws_size ? ws.data() : nullptr; }
    // A rejected call writes nothing: not its outputs, and not the workspace either.
    bool outputs_untouched() const {
        return y.untouched() && du.untouched() && dk.untouched() && d_in_gate.untouched() &&
               d_out_gate.untouched() && ws.untouched();
    }
    void poison_outputs() {
        for (Buffer *b : {&y, &du, &dk, &d_in_gate, &d_out_gate, &ws}) b->poison();
    }
};

// Shapes that every shape-taking entry point must reject, with the field to name.
struct BadShape {
    ffc_shape_t shape;
    const char *field;
};
std::vector<BadShape> bad_shapes(int64_t n) {
    return {
        {{0, 3, 100, 50}, "batch"},        {{-1, 3, 100, 50}, "batch"},
        {{2, 0, 100, 50}, "channels"},     {{2, -4, 100, 50}, "channels"},
        {{2, 3, 0, 50}, "seq_len"},        {{2, 3, -7, 50}, "seq_len"},
        {{2, 3, 100, 0}, "kernel_len"},    {{2, 3, 100, -1}, "kernel_len"},
        {{2, 3, n + 1, 50}, "seq_len"},    {{2, 3, 100, n + 1}, "kernel_len"},
        {{INT64_MIN, 3, 100, 50}, "batch"},
        // B·H·L beyond 64-bit indexing (a product that would wrap).
        {{int64_t(1) << 40, int64_t(1) << 20, n, 50}, "B*H*L"},
    };
}

constexpr uint64_t kN = 1024;
const ffc_shape_t kShape = {3, 4, 1000, 700};  // odd B, L + K - 1 > N: circular wrap included

// The checks every execute call opens with: a null plan, a null shape and each
// bad shape are rejected, naming the argument. after_each runs after each bad
// shape (to require the outputs untouched, say).
template <class Args, class Run, class After>
void check_plan_and_shape(const Args &valid, Run run, After after_each) {
    Args a = valid;
    a.plan = nullptr;
    require_error(run(a), FFC_ERROR_NULL_POINTER, "plan");
    a = valid;
    a.shape = nullptr;
    require_error(run(a), FFC_ERROR_NULL_POINTER, "shape");
    for (const BadShape &b : bad_shapes(int64_t(kN))) {
        a = valid;
        a.shape = &b.shape;
        require_error(run(a), FFC_ERROR_INVALID_SHAPE, b.field);
        after_each();
    }
}
template <class Args, class Run>
void check_plan_and_shape(const Args &valid, Run run) {
    check_plan_and_shape(valid, run, [] {});
}

}  // namespace

// ---------------------------------------------------------------------------
// Information functions
// ---------------------------------------------------------------------------

TEST_CASE("ffc_status_string describes every status code", "[cpu][api]") {
    const ffc_status_t all[] = {
        FFC_SUCCESS,
        FFC_ERROR_INVALID_ARGUMENT, FFC_ERROR_NULL_POINTER, FFC_ERROR_INVALID_FFT_SIZE,
        FFC_ERROR_INVALID_SHAPE, FFC_ERROR_INVALID_DTYPE, FFC_ERROR_INVALID_DESCRIPTOR,
        FFC_ERROR_WORKSPACE_TOO_SMALL, FFC_ERROR_BUFFER_TOO_SMALL, FFC_ERROR_INVALID_BACKEND,
        FFC_ERROR_INVALID_DEVICE, FFC_ERROR_INVALID_FLAGS, FFC_ERROR_MISALIGNED_POINTER,
        FFC_ERROR_INVALID_POINTER,
        FFC_ERROR_NOT_SUPPORTED, FFC_ERROR_BACKEND_UNAVAILABLE, FFC_ERROR_NO_KERNEL,
        FFC_ERROR_CUDA, FFC_ERROR_OUT_OF_MEMORY,
        FFC_ERROR_INTERNAL,
    };
    const std::string unknown = ffc_status_string(ffc_status_t(999));
    CHECK(unknown == "unknown status");
    std::set<std::string> seen;
    for (ffc_status_t s : all) {
        const char *text = ffc_status_string(s);
        INFO("status " << int(s));
        REQUIRE(text != nullptr);
        CHECK(std::strlen(text) > 0);
        CHECK(std::string(text) != unknown);
        CHECK(seen.insert(text).second);  // every code has its own text
    }
    // Values inside the category ranges that name no code are unknown too.
    for (int v : {1, 999, 1013, 1999, 2003, 3002, 4001, 5000})
        CHECK(std::string(ffc_status_string(ffc_status_t(v))) == unknown);
}

TEST_CASE("ffc_last_error_message: snprintf-like truncation, cleared by success, per thread", "[cpu][api]") {
    ffc_plan_t plan = nullptr;
    ffc_plan_desc_t d = cpu_desc(1000);  // not a power of two
    REQUIRE(ffc_plan_create(&plan, &d) == FFC_ERROR_INVALID_FFT_SIZE);
    const std::string full = last_error();
    REQUIRE(full.size() > 8);
    CHECK_THAT(full, Contains("fft_size"));

    SECTION("size query") {
        CHECK(ffc_last_error_message(nullptr, 0) == full.size());
        char c = 'q';
        CHECK(ffc_last_error_message(&c, 0) == full.size());
        CHECK(c == 'q');  // buf_size 0: nothing written
    }
    SECTION("truncation keeps buf_size - 1 characters and a NUL") {
        char buf[8];
        std::memset(buf, 'x', sizeof buf);
        CHECK(ffc_last_error_message(buf, 5) == full.size());
        CHECK(std::string(buf) == full.substr(0, 4));
        CHECK(buf[5] == 'x');  // nothing past buf_size
        CHECK(ffc_last_error_message(buf, 1) == full.size());
        CHECK(buf[0] == '\0');
    }
    SECTION("exact fit") {
        std::vector<char> buf(full.size() + 1, 'x');
        CHECK(ffc_last_error_message(buf.data(), buf.size()) == full.size());
        CHECK(std::string(buf.data()) == full);
    }
    SECTION("a successful call clears it") {
        Plan p(cpu_desc(kN));
        ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
        REQUIRE(ffc_plan_get_info(p.p, &info) == FFC_SUCCESS);
        CHECK(ffc_last_error_message(nullptr, 0) == 0);
        char buf[4] = {'x', 'x', 'x', 'x'};
        CHECK(ffc_last_error_message(buf, sizeof buf) == 0);
        CHECK(buf[0] == '\0');
    }
    SECTION("messages are thread-local") {
        std::string other_before, other_after;
        std::thread t([&] {
            other_before = last_error();  // a new thread starts with no message
            ffc_plan_t q = nullptr;
            ffc_plan_desc_t bad = cpu_desc(kN);
            bad.dtype = 77;
            (void)ffc_plan_create(&q, &bad);
            other_after = last_error();
        });
        t.join();
        CHECK(other_before.empty());
        CHECK_THAT(other_after, Contains("dtype"));
        CHECK(last_error() == full);  // this thread's message is unchanged
    }
}

TEST_CASE("version functions agree with the header", "[cpu][api]") {
    CHECK(ffc_version_number() == unsigned(FFC_VERSION_NUMBER));
    char expect[32];
    std::snprintf(expect, sizeof expect, "%d.%d.%d", FFC_VERSION_MAJOR, FFC_VERSION_MINOR, FFC_VERSION_PATCH);
    REQUIRE(ffc_version_string() != nullptr);
    CHECK(std::string(ffc_version_string()) == expect);
    CHECK(ffc_version_string() == ffc_version_string());  // static storage
}

namespace {

// A minimal JSON reader, enough to check that ffc_build_info() is well-formed and
// to read its top-level keys with their value types: s(tring), n(umber),
// b(oolean), z (null), a(rray), o(bject), each with the raw text of the value.
class Json {
public:
    using Keys = std::map<std::string, std::pair<char, std::string>>;
    explicit Json(std::string text) : s_(std::move(text)) {}

    // Parses one top-level object; false on any syntax error or duplicate key.
    bool parse(Keys &keys) {
        ws();
        if (!object(&keys)) return false;
        ws();
        return i_ == s_.size();
    }

private:
    void ws() { while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_])) ++i_; }
    bool eat(char c) {
        if (i_ < s_.size() && s_[i_] == c) { ++i_; return true; }
        return false;
    }
    bool lit(const char *w) {
        const size_t n = std::strlen(w);
        if (s_.compare(i_, n, w) != 0) return false;
        i_ += n;
        return true;
    }
    bool string(std::string &out) {
        if (!eat('"')) return false;
        while (i_ < s_.size() && s_[i_] != '"') {
            if (static_cast<unsigned char>(s_[i_]) < 0x20) return false;
            if (s_[i_] == '\\' && ++i_ >= s_.size()) return false;
            out += s_[i_++];
        }
        return eat('"');
    }
    bool number() {
        const size_t start = i_;
        eat('-');
        while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || std::strchr(".eE+-", s_[i_])))
            ++i_;
        return i_ > start && std::isdigit(static_cast<unsigned char>(s_[i_ - 1]));
    }
    // keys == nullptr: a nested object, checked but not recorded.
    bool object(Keys *keys) {
        if (!eat('{')) return false;
        ws();
        if (eat('}')) return true;
        do {
            ws();
            std::string key;
            if (!string(key)) return false;
            ws();
            if (!eat(':')) return false;
            ws();
            const size_t start = i_;
            char type = 0;
            if (!value(type)) return false;
            if (keys && !keys->emplace(key, std::make_pair(type, s_.substr(start, i_ - start))).second) return false;
            ws();
        } while (eat(','));
        return eat('}');
    }
    bool value(char &type) {
        if (i_ >= s_.size()) return false;
        std::string ignored;
        char inner = 0;
        switch (s_[i_]) {
        case '"': type = 's'; return string(ignored);
        case 't': type = 'b'; return lit("true");
        case 'f': type = 'b'; return lit("false");
        case 'n': type = 'z'; return lit("null");
        case '{': type = 'o'; return object(nullptr);
        case '[':
            type = 'a';
            ++i_;
            ws();
            if (eat(']')) return true;
            do {
                ws();
                if (!value(inner)) return false;
                ws();
            } while (eat(','));
            return eat(']');
        default: type = 'n'; return number();
        }
    }

    std::string s_;
    size_t i_ = 0;
};

}  // namespace

TEST_CASE("ffc_build_info is a JSON object with the documented keys", "[cpu][api]") {
    const char *info = ffc_build_info();
    REQUIRE(info != nullptr);
    INFO(info);
    Json::Keys keys;
    REQUIRE(Json(info).parse(keys));

    REQUIRE(keys.count("version"));
    CHECK(keys["version"].first == 's');
    CHECK(keys["version"].second == std::string("\"") + ffc_version_string() + "\"");
    REQUIRE(keys.count("version_number"));
    CHECK(keys["version_number"].first == 'n');
    CHECK(keys["version_number"].second == std::to_string(FFC_VERSION_NUMBER));
    REQUIRE(keys.count("cuda"));
    CHECK(keys["cuda"].first == 'b');
    REQUIRE(keys.count("sm"));
    CHECK(keys["sm"].first == 'a');
    REQUIRE(keys.count("kernels"));
    CHECK(keys["kernels"].first == 'n');

    const bool cuda = keys["cuda"].second == "true";
    CHECK(cuda == bool(FFC_WITH_CUDA));  // the build this test links against
    if (cuda) {
        REQUIRE(keys.count("cuda_runtime"));
        CHECK(keys["cuda_runtime"].first == 's');
        CHECK(keys["sm"].second != "[]");
    } else {
        CHECK(keys.count("cuda_runtime") == 0);
        CHECK(keys["sm"].second == "[]");
    }
    CHECK(ffc_build_info() == info);  // static storage
}

TEST_CASE("ffc_backend_available", "[cpu][api]") {
    CHECK(ffc_backend_available(FFC_BACKEND_CPU) == 1);
    CHECK(ffc_backend_available(FFC_BACKEND_AUTO) == 1);
    CHECK(ffc_backend_available(ffc_backend_t(3)) == 0);
    const int cuda = ffc_backend_available(FFC_BACKEND_CUDA);
    CHECK((cuda == 0 || cuda == 1));
    if (!FFC_WITH_CUDA) CHECK(cuda == 0);
}

TEST_CASE("ffc_plan_destroy(NULL) is a no-op", "[cpu][api]") {
    ffc_plan_destroy(nullptr);
    ffc_plan_destroy(nullptr);
    SUCCEED();
}

TEST_CASE("ffc_plan_get_info reports what the plan resolved to", "[cpu][api]") {
    for (ffc_dtype_t dtype : {FFC_DTYPE_FP32, FFC_DTYPE_FP16, FFC_DTYPE_BF16}) {
        for (uint64_t n : {uint64_t(FFC_MIN_FFT_SIZE), uint64_t(4096)}) {
            INFO("dtype " << int(dtype) << " N " << n);
            Plan p(cpu_desc(n, dtype));
            ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
            REQUIRE(ffc_plan_get_info(p.p, &info) == FFC_SUCCESS);
            CHECK(info.struct_size == sizeof(ffc_plan_info_t));
            CHECK(info.magic == FFC_PLAN_INFO_MAGIC);
            CHECK(info.version == FFC_PLAN_INFO_VERSION);
            CHECK(info.fft_size == n);
            CHECK(info.dtype == dtype);
            CHECK(info.backend == FFC_BACKEND_CPU);
            CHECK(info.device == -1);
            REQUIRE(info.num_factors >= 1);
            REQUIRE(info.num_factors <= FFC_MAX_FACTORS);
            uint64_t product = 1;
            for (int i = 0; i < info.num_factors; ++i) product *= info.factors[i];
            CHECK(product == n);
            for (int i = info.num_factors; i < FFC_MAX_FACTORS; ++i) CHECK(info.factors[i] == 0);
            CHECK(info.reserved0 == 0);
            CHECK(info.predicted_us_per_sequence >= 0.0);
            const size_t name_len = strnlen(info.kernel_name, sizeof info.kernel_name);
            CHECK(name_len > 0);
            CHECK(name_len < sizeof info.kernel_name);
        }
    }

    SECTION("AUTO resolves to a concrete backend") {
        ffc_plan_desc_t d = cpu_desc(kN);
        d.backend = FFC_BACKEND_AUTO;
        Plan p(d);
        ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
        REQUIRE(ffc_plan_get_info(p.p, &info) == FFC_SUCCESS);
        CHECK(info.backend != FFC_BACKEND_AUTO);
        if (!ffc_backend_available(FFC_BACKEND_CUDA)) CHECK(info.backend == FFC_BACKEND_CPU);
    }
    SECTION("a forced factorisation is honoured") {
        ffc_plan_desc_t d = cpu_desc(kN);
        d.force_factors[0] = 32;
        d.force_factors[1] = 32;
        Plan p(d);
        ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
        REQUIRE(ffc_plan_get_info(p.p, &info) == FFC_SUCCESS);
        REQUIRE(info.num_factors == 2);
        CHECK(info.factors[0] == 32);
        CHECK(info.factors[1] == 32);
    }
}

// ---------------------------------------------------------------------------
// ffc_plan_create
// ---------------------------------------------------------------------------

TEST_CASE("ffc_plan_create rejects bad descriptors", "[cpu][api]") {
    const ffc_plan_t sentinel = reinterpret_cast<ffc_plan_t>(uintptr_t(0x1234));
    ffc_plan_t plan = sentinel;
    ffc_plan_desc_t d = cpu_desc(kN);

    // The documented output on failure: *plan is set to NULL.
    auto expect = [&](ffc_status_t want, const char *field) {
        plan = sentinel;
        const ffc_status_t st = ffc_plan_create(&plan, &d);
        require_error(st, want, field);
        CHECK(plan == nullptr);
        if (st == FFC_SUCCESS) ffc_plan_destroy(plan);
    };

    SECTION("the valid descriptor works") {
        REQUIRE(ffc_plan_create(&plan, &d) == FFC_SUCCESS);
        REQUIRE(plan != nullptr);
        CHECK(last_error().empty());
        ffc_plan_destroy(plan);
    }
    SECTION("NULL plan") {
        require_error(ffc_plan_create(nullptr, &d), FFC_ERROR_NULL_POINTER, "plan");
    }
    SECTION("NULL desc") {
        plan = sentinel;
        require_error(ffc_plan_create(&plan, nullptr), FFC_ERROR_NULL_POINTER, "desc");
        CHECK(plan == nullptr);
    }
    SECTION("wrong struct_size") {
        for (size_t s : {size_t(0), sizeof(ffc_plan_desc_t) - 8, sizeof(ffc_plan_desc_t) + 8}) {
            d.struct_size = s;
            expect(FFC_ERROR_INVALID_DESCRIPTOR, "struct_size");
        }
    }
    SECTION("wrong magic") {
        for (uint32_t m : {0u, FFC_PLAN_INFO_MAGIC, FFC_PLAN_DESC_MAGIC ^ 1u}) {
            d.magic = m;
            expect(FFC_ERROR_INVALID_DESCRIPTOR, "magic");
        }
    }
    SECTION("unsupported version") {
        for (uint32_t v : {0u, FFC_PLAN_DESC_VERSION + 1, 0xffffffffu}) {
            d.version = v;
            expect(FFC_ERROR_INVALID_DESCRIPTOR, "version");
        }
    }
    SECTION("nonzero reserved fields") {
        for (size_t i = 0; i < sizeof d.reserved / sizeof d.reserved[0]; ++i) {
            d = cpu_desc(kN);
            d.reserved[i] = uint64_t(1) << (10 * i);
            expect(FFC_ERROR_INVALID_DESCRIPTOR, "reserved");
        }
        d = cpu_desc(kN);
        d.reserved0 = 1;
        expect(FFC_ERROR_INVALID_DESCRIPTOR, "reserved0");
        d.reserved0 = 0;
        d.reserved1 = 1;
        expect(FFC_ERROR_INVALID_DESCRIPTOR, "reserved1");
    }
    SECTION("FFT size not a power of two, below 256 or above 4194304") {
        for (uint64_t n : {uint64_t(0), uint64_t(1), uint64_t(128), uint64_t(255), uint64_t(257),
                           uint64_t(1000), uint64_t(3) << 10, uint64_t(FFC_MAX_FFT_SIZE) * 2,
                           uint64_t(FFC_MAX_FFT_SIZE) + 1, uint64_t(1) << 63, ~uint64_t(0)}) {
            INFO("N = " << n);
            d.fft_size = n;
            expect(FFC_ERROR_INVALID_FFT_SIZE, "fft_size");
        }
    }
    SECTION("unsupported dtype") {
        for (int32_t t : {-1, 3, 1000}) {
            d.dtype = t;
            expect(FFC_ERROR_INVALID_DTYPE, "dtype");
        }
    }
    SECTION("unsupported backend") {
        for (int32_t b : {-1, 3, 99}) {
            d.backend = b;
            expect(FFC_ERROR_INVALID_BACKEND, "backend");
        }
    }
    SECTION("CUDA backend without a device") {
        if (!ffc_backend_available(FFC_BACKEND_CUDA)) {
            d.backend = FFC_BACKEND_CUDA;
            expect(FFC_ERROR_BACKEND_UNAVAILABLE, "CUDA");
        } else {
            d.backend = FFC_BACKEND_CUDA;
            d.device = 1 << 20;
            expect(FFC_ERROR_INVALID_DEVICE, "device");
        }
    }
    SECTION("unknown flags") {
        for (uint32_t f : {2u, 0x100u, 0x80000000u, FFC_PLAN_PARTIAL | 4u}) {  // bit 0 is FFC_PLAN_PARTIAL
            d.flags = f;
            expect(FFC_ERROR_INVALID_FLAGS, "flag");
        }
    }
    SECTION("force_factors with a gap after the terminating zero") {
        d.force_factors[0] = 32;
        d.force_factors[2] = 32;
        expect(FFC_ERROR_INVALID_FLAGS, "force_factors");
    }
    SECTION("force_factors whose product is not N") {
        d.force_factors[0] = 16;
        d.force_factors[1] = 16;  // 256 != 1024
        expect(FFC_ERROR_INVALID_FLAGS, "factor");
        d.force_factors[0] = 3;
        d.force_factors[1] = 341;
        expect(FFC_ERROR_INVALID_FLAGS, "factor");
    }
    SECTION("negative cpu_threads") {
        d.cpu_threads = -1;
        expect(FFC_ERROR_INVALID_ARGUMENT, "cpu_threads");
    }
}

TEST_CASE("ffc_plan_desc_t: the layout is locked; versions 2 and 3 gave reserved slots a meaning", "[cpu][api]") {
    // LP64 numbers (the header documents LP64 only); the library static_asserts the same.
    STATIC_REQUIRE(sizeof(ffc_plan_desc_t) == 128);
    STATIC_REQUIRE(offsetof(ffc_plan_desc_t, force_factors) == 40);
    STATIC_REQUIRE(offsetof(ffc_plan_desc_t, cpu_threads) == 72);
    STATIC_REQUIRE(offsetof(ffc_plan_desc_t, reserved0) == 76);
    STATIC_REQUIRE(offsetof(ffc_plan_desc_t, force_kernel) == 80);   // version 2: version 1's reserved[0]
    STATIC_REQUIRE(offsetof(ffc_plan_desc_t, freq_mask) == 88);      // version 3: version 2's reserved[0]
    STATIC_REQUIRE(offsetof(ffc_plan_desc_t, freq_mask_len) == 96);  // version 3: version 2's reserved[1]
    STATIC_REQUIRE(offsetof(ffc_plan_desc_t, reserved1) == 100);
    STATIC_REQUIRE(offsetof(ffc_plan_desc_t, reserved) == 104);
    STATIC_REQUIRE(sizeof(ffc_plan_desc_t::reserved) == 3 * sizeof(uint64_t));
    STATIC_REQUIRE(FFC_PLAN_DESC_VERSION == 3u);
    const ffc_plan_desc_t d = FFC_PLAN_DESC_INIT;
    CHECK(d.version == FFC_PLAN_DESC_VERSION);
    CHECK(d.force_kernel == nullptr);
    CHECK(d.freq_mask == nullptr);
    CHECK(d.freq_mask_len == 0);
    CHECK(d.reserved1 == 0);
    for (uint64_t r : d.reserved) CHECK(r == 0);
}

TEST_CASE("ffc_plan_create: a version-1 descriptor is still accepted", "[cpu][api]") {
    ffc_plan_desc_t d = cpu_desc(kN);
    d.version = 1;  // what a caller compiled against the version-1 header sends: the slot is a zero
    REQUIRE(d.force_kernel == nullptr);
    {
        Plan p(d);
        ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
        REQUIRE(ffc_plan_get_info(p.p, &info) == FFC_SUCCESS);
        CHECK(info.fft_size == kN);
        CHECK(info.backend == FFC_BACKEND_CPU);
    }
    // Its force_factors still work.
    d.force_factors[0] = 32;
    d.force_factors[1] = 32;
    {
        Plan p(d);
        ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
        REQUIRE(ffc_plan_get_info(p.p, &info) == FFC_SUCCESS);
        CHECK(info.num_factors == 2);
    }
    // In version 1 the slot is reserved: nonzero is an invalid descriptor, not a kernel name.
    d = cpu_desc(kN);
    d.version = 1;
    d.force_kernel = "fused_n1024_4x16x16";
    ffc_plan_t plan = nullptr;
    require_error(ffc_plan_create(&plan, &d), FFC_ERROR_INVALID_DESCRIPTOR, "reserved");
    CHECK(plan == nullptr);
    CHECK_THAT(last_error(), Contains("version 2"));
}

TEST_CASE("ffc_plan_create: force_kernel is validated, and refused by the CPU backend", "[cpu][api]") {
    const ffc_plan_t sentinel = reinterpret_cast<ffc_plan_t>(uintptr_t(0x1234));
    ffc_plan_t plan = sentinel;
    ffc_plan_desc_t d = cpu_desc(kN);
    auto expect = [&](ffc_status_t want, const char *field) {
        plan = sentinel;
        const ffc_status_t st = ffc_plan_create(&plan, &d);
        require_error(st, want, field);
        CHECK(plan == nullptr);
        if (st == FFC_SUCCESS) ffc_plan_destroy(plan);
    };

    SECTION("CPU backend: any name is FFC_ERROR_NO_KERNEL, saying why") {
        for (const char *name : {"fused_n1024_4x16x16", "cpu_monarch", "no_such_kernel"}) {
            INFO(name);
            d.force_kernel = name;
            expect(FFC_ERROR_NO_KERNEL, "CPU backend");
            CHECK_THAT(last_error(), Contains("force_kernel"));
            CHECK_THAT(last_error(), Contains(name));
        }
        // With force_factors too (consistent or not, the backend answers first).
        d.force_factors[0] = 32;
        d.force_factors[1] = 32;
        expect(FFC_ERROR_NO_KERNEL, "CPU backend");
    }
    SECTION("AUTO resolving to the CPU behaves as the CPU backend") {
        if (ffc_backend_available(FFC_BACKEND_CUDA)) return;  // resolves to CUDA there
        d.backend = FFC_BACKEND_AUTO;
        d.force_kernel = "fused_n1024_4x16x16";
        expect(FFC_ERROR_NO_KERNEL, "CPU backend");
    }
    SECTION("an empty name is FFC_ERROR_INVALID_FLAGS (NULL, not \"\", means no forced kernel)") {
        d.force_kernel = "";
        expect(FFC_ERROR_INVALID_FLAGS, "force_kernel");
    }
    SECTION("the read is bounded: no NUL in FFC_MAX_KERNEL_NAME bytes is FFC_ERROR_INVALID_FLAGS") {
        // The unterminated name ends at a page the process cannot read: reading
        // past FFC_MAX_KERNEL_NAME bytes would crash instead of failing cleanly.
        const long page = sysconf(_SC_PAGESIZE);
        REQUIRE(page >= FFC_MAX_KERNEL_NAME);
        void *mem = mmap(nullptr, size_t(2 * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(mem != MAP_FAILED);
        char *guard = static_cast<char *>(mem) + page;
        REQUIRE(mprotect(guard, size_t(page), PROT_NONE) == 0);
        char *name = guard - FFC_MAX_KERNEL_NAME;
        std::memset(name, 'a', FFC_MAX_KERNEL_NAME);
        d.force_kernel = name;
        expect(FFC_ERROR_INVALID_FLAGS, "force_kernel");
        CHECK_THAT(last_error(), Contains(std::to_string(FFC_MAX_KERNEL_NAME)));
        // FFC_MAX_KERNEL_NAME - 1 characters and the NUL: well-formed, so the
        // backend decides (the CPU has no kernels).
        name[FFC_MAX_KERNEL_NAME - 1] = '\0';
        expect(FFC_ERROR_NO_KERNEL, "CPU backend");
        munmap(mem, size_t(2 * page));
    }
    SECTION("descriptor checks come first: a bad descriptor with a name is still INVALID_DESCRIPTOR") {
        d.force_kernel = "fused_n1024_4x16x16";
        d.reserved[0] = 1;
        expect(FFC_ERROR_INVALID_DESCRIPTOR, "reserved");
    }
    SECTION("CUDA backend: names are checked against the candidates for N (needs a device)") {
        if (!ffc_backend_available(FFC_BACKEND_CUDA)) {
            d.backend = FFC_BACKEND_CUDA;
            d.force_kernel = "fused_n1024_4x16x16";
            expect(FFC_ERROR_BACKEND_UNAVAILABLE, "CUDA");
            return;
        }
        d.backend = FFC_BACKEND_CUDA;
        d.force_kernel = "no_such_kernel";
        expect(FFC_ERROR_NO_KERNEL, "no_such_kernel");
        CHECK_THAT(last_error(), Contains("fused_n1024_"));  // lists the candidates
        d.force_kernel = "fused_n4096_16cx16x16";             // a kernel, but of another size
        expect(FFC_ERROR_NO_KERNEL, "4096");
        d.force_kernel = "fused_n1024_4x16x16";
        d.force_factors[0] = 8;
        d.force_factors[1] = 8;
        d.force_factors[2] = 16;
        expect(FFC_ERROR_INVALID_FLAGS, "disagree");
        d.force_factors[0] = 4;
        d.force_factors[1] = 16;
        d.force_factors[2] = 16;
        Plan p(d);
        ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
        REQUIRE(ffc_plan_get_info(p.p, &info) == FFC_SUCCESS);
        CHECK(std::string(info.kernel_name) == "fused_n1024_4x16x16");
    }
}

// ---------------------------------------------------------------------------
// Plan queries
// ---------------------------------------------------------------------------

TEST_CASE("ffc_plan_get_workspace_size and ffc_kernel_spectrum_get_size reject bad input", "[cpu][api]") {
    Plan p(cpu_desc(kN));
    ffc_shape_t s = kShape;
    const size_t sentinel = 0xDEADBEEF;
    size_t out = sentinel;

    using SizeFn = ffc_status_t (*)(ffc_plan_t, const ffc_shape_t *, size_t *);
    const std::pair<const char *, SizeFn> fns[] = {
        {"ffc_plan_get_workspace_size", &ffc_plan_get_workspace_size},
        {"ffc_kernel_spectrum_get_size", &ffc_kernel_spectrum_get_size},
    };
    for (const auto &fn : fns) {
        INFO(fn.first);
        REQUIRE(fn.second(p.p, &s, &out) == FFC_SUCCESS);
        out = sentinel;
        require_error(fn.second(nullptr, &s, &out), FFC_ERROR_NULL_POINTER, "plan");
        CHECK(out == sentinel);
        require_error(fn.second(p.p, nullptr, &out), FFC_ERROR_NULL_POINTER, "shape");
        CHECK(out == sentinel);
        require_error(fn.second(p.p, &s, nullptr), FFC_ERROR_NULL_POINTER, "size");
        for (const BadShape &b : bad_shapes(int64_t(kN))) {
            INFO("shape {" << b.shape.batch << ", " << b.shape.channels << ", " << b.shape.seq_len << ", "
                           << b.shape.kernel_len << "}");
            require_error(fn.second(p.p, &b.shape, &out), FFC_ERROR_INVALID_SHAPE, b.field);
            CHECK(out == sentinel);
        }
    }

    SECTION("L = N and K = N are legal") {
        ffc_shape_t full = {1, 1, int64_t(kN), int64_t(kN)};
        CHECK(ffc_plan_get_workspace_size(p.p, &full, &out) == FFC_SUCCESS);
    }
}

TEST_CASE("ffc_plan_describe: size query, buffer too small, NULL arguments", "[cpu][api]") {
    Plan p(cpu_desc(kN));
    size_t required = 0;

    // Size query: documented to return BUFFER_TOO_SMALL with *required set.
    require_error(ffc_plan_describe(p.p, nullptr, 0, &required), FFC_ERROR_BUFFER_TOO_SMALL, "buf_size");
    REQUIRE(required > 1);

    SECTION("exact size succeeds and writes a NUL-terminated description") {
        std::vector<char> buf(required, 'x');
        size_t again = 0;
        REQUIRE(ffc_plan_describe(p.p, buf.data(), buf.size(), &again) == FFC_SUCCESS);
        CHECK(again == required);
        CHECK(std::strlen(buf.data()) == required - 1);
        CHECK(last_error().empty());
        REQUIRE(ffc_plan_describe(p.p, buf.data(), buf.size(), nullptr) == FFC_SUCCESS);  // required optional
    }
    SECTION("one byte short: nothing written, *required set") {
        std::vector<char> buf(required + 16, char(kPoison));
        size_t again = 0;
        require_error(ffc_plan_describe(p.p, buf.data(), required - 1, &again), FFC_ERROR_BUFFER_TOO_SMALL,
                      "buf_size");
        CHECK(again == required);
        CHECK(std::all_of(buf.begin(), buf.end(), [](char c) { return c == char(kPoison); }));
    }
    SECTION("NULL plan") {
        char buf[16];
        std::memset(buf, kPoison, sizeof buf);
        size_t req = 12345;
        require_error(ffc_plan_describe(nullptr, buf, sizeof buf, &req), FFC_ERROR_NULL_POINTER, "plan");
        CHECK(req == 12345);
        CHECK(std::all_of(buf, buf + sizeof buf, [](char c) { return c == char(kPoison); }));
    }
    SECTION("NULL buf with a nonzero buf_size") {
        require_error(ffc_plan_describe(p.p, nullptr, 64, nullptr), FFC_ERROR_NULL_POINTER, "buf");
    }
}

TEST_CASE("ffc_plan_get_info rejects bad input", "[cpu][api]") {
    Plan p(cpu_desc(kN));
    require_error(ffc_plan_get_info(nullptr, nullptr), FFC_ERROR_NULL_POINTER, "plan");
    require_error(ffc_plan_get_info(p.p, nullptr), FFC_ERROR_NULL_POINTER, "info");

    auto check_rejected = [&](ffc_plan_info_t info) {
        unsigned char before[sizeof(ffc_plan_info_t)];
        std::memcpy(before, &info, sizeof info);
        require_error(ffc_plan_get_info(p.p, &info), FFC_ERROR_INVALID_DESCRIPTOR, "info");
        CHECK(std::memcmp(before, &info, sizeof info) == 0);
    };
    ffc_plan_info_t info;
    std::memset(&info, kPoison, sizeof info);  // also poisons the padding
    info.struct_size = sizeof info;
    info.magic = FFC_PLAN_INFO_MAGIC;
    info.version = FFC_PLAN_INFO_VERSION;
    {
        ffc_plan_info_t bad = info;
        bad.struct_size = sizeof info - 8;
        check_rejected(bad);
    }
    {
        ffc_plan_info_t bad = info;
        bad.magic = FFC_PLAN_DESC_MAGIC;
        check_rejected(bad);
    }
    {
        ffc_plan_info_t bad = info;
        bad.version = 0;
        check_rejected(bad);
        bad.version = FFC_PLAN_INFO_VERSION + 1;
        check_rejected(bad);
    }
    REQUIRE(ffc_plan_get_info(p.p, &info) == FFC_SUCCESS);  // poisoned but valid header
    CHECK(info.fft_size == kN);
}

// ---------------------------------------------------------------------------
// Execute entry points
// ---------------------------------------------------------------------------

namespace {

// Runs the shared checks for tensor arguments of an execute call: a NULL
// required pointer and misaligned pointers. `call(ptr)` substitutes ptr for the
// argument under test and returns the status.
template <class Call>
void check_tensor_argument(Problem &pr, const char *name, bool required, size_t elem_size, Call call) {
    INFO("argument " << name);
    if (required) {
        require_error(call(nullptr), FFC_ERROR_NULL_POINTER, name);
        REQUIRE(pr.outputs_untouched());
    }
    for (size_t by = 1; by < elem_size; ++by) {
        // Large enough for any tensor of the problem, so a call that wrongly
        // accepted the pointer could not write out of bounds.
        Buffer odd(pr.elems * 8 + pr.k_elems * 4 + (size_t(1) << 20));
        require_error(call(odd.misaligned(by)), FFC_ERROR_MISALIGNED_POINTER, name);
        REQUIRE(pr.outputs_untouched());
        REQUIRE(odd.untouched());
    }
}

}  // namespace

TEST_CASE("ffc_conv_forward rejects bad input and writes nothing", "[cpu][api]") {
    for (ffc_dtype_t dtype : {FFC_DTYPE_FP32, FFC_DTYPE_FP16}) {
        INFO("dtype " << int(dtype));
        Plan p(cpu_desc(kN, dtype));
        Problem pr(p.p, dtype, kShape);
        const size_t es = dtype_bytes(dtype);

        // Baseline: the unmodified call succeeds (and clears the message).
        REQUIRE(ffc_conv_forward(p.p, &pr.shape, pr.u.data(), pr.k.as<float>(), pr.in_gate.data(),
                                 pr.out_gate.data(), pr.y.data(), pr.ws_ptr(), pr.ws_size, nullptr) == FFC_SUCCESS);
        CHECK_FALSE(pr.y.untouched());
        CHECK(last_error().empty());
        pr.poison_outputs();

        struct Args {
            ffc_plan_t plan;
            const ffc_shape_t *shape;
            const void *u;
            const float *k;
            const void *in_gate, *out_gate;
            void *y, *ws;
            size_t ws_size;
        };
        const Args valid{p.p, &pr.shape, pr.u.data(), pr.k.as<float>(), pr.in_gate.data(),
                         pr.out_gate.data(), pr.y.data(), pr.ws_ptr(), pr.ws_size};
        auto run = [](const Args &a) {
            return ffc_conv_forward(a.plan, a.shape, a.u, a.k, a.in_gate, a.out_gate, a.y, a.ws, a.ws_size, nullptr);
        };

        check_plan_and_shape(valid, run, [&] { REQUIRE(pr.outputs_untouched()); });
        REQUIRE(pr.outputs_untouched());
        Args a = valid;

        check_tensor_argument(pr, "u", true, es, [&](void *ptr) { Args x = valid; x.u = ptr; return run(x); });
        check_tensor_argument(pr, "k", true, 4, [&](void *ptr) { Args x = valid; x.k = static_cast<float *>(ptr); return run(x); });
        check_tensor_argument(pr, "in_gate", false, es, [&](void *ptr) { Args x = valid; x.in_gate = ptr; return run(x); });
        check_tensor_argument(pr, "out_gate", false, es, [&](void *ptr) { Args x = valid; x.out_gate = ptr; return run(x); });
        check_tensor_argument(pr, "y", true, es, [&](void *ptr) { Args x = valid; x.y = ptr; return run(x); });

        if (pr.ws_size > 0) {
            a = valid;
            a.ws_size = pr.ws_size - 1;
            require_error(run(a), FFC_ERROR_WORKSPACE_TOO_SMALL, "workspace_size");
            a.ws_size = 0;
            require_error(run(a), FFC_ERROR_WORKSPACE_TOO_SMALL, "workspace_size");
            a = valid;
            a.ws = nullptr;
            require_error(run(a), FFC_ERROR_NULL_POINTER, "workspace");
            REQUIRE(pr.outputs_untouched());
        } else {
            WARN("the CPU backend needs no workspace for this shape: workspace checks skipped");
        }
    }
}

TEST_CASE("ffc_conv_backward rejects bad input and writes nothing", "[cpu][api]") {
    const ffc_dtype_t dtype = FFC_DTYPE_FP16;
    const size_t es = 2;
    Plan p(cpu_desc(kN, dtype));
    Problem pr(p.p, dtype, kShape);

    struct Args {
        ffc_plan_t plan;
        const ffc_shape_t *shape;
        const void *dy, *u;
        const float *k;
        const void *in_gate, *out_gate;
        void *du;
        float *dk;
        void *d_in_gate, *d_out_gate, *ws;
        size_t ws_size;
    };
    const Args valid{p.p, &pr.shape, pr.dy.data(), pr.u.data(), pr.k.as<float>(), pr.in_gate.data(),
                     pr.out_gate.data(), pr.du.data(), pr.dk.as<float>(), pr.d_in_gate.data(),
                     pr.d_out_gate.data(), pr.ws_ptr(), pr.ws_size};
    auto run = [](const Args &a) {
        return ffc_conv_backward(a.plan, a.shape, a.dy, a.u, a.k, a.in_gate, a.out_gate, a.du, a.dk, a.d_in_gate,
                                 a.d_out_gate, a.ws, a.ws_size, nullptr);
    };

    REQUIRE(run(valid) == FFC_SUCCESS);
    CHECK_FALSE(pr.du.untouched());
    CHECK_FALSE(pr.dk.untouched());
    pr.poison_outputs();

    check_plan_and_shape(valid, run, [&] { REQUIRE(pr.outputs_untouched()); });
    REQUIRE(pr.outputs_untouched());
    Args a = valid;

    check_tensor_argument(pr, "dy", true, es, [&](void *q) { Args x = valid; x.dy = q; return run(x); });
    check_tensor_argument(pr, "u", true, es, [&](void *q) { Args x = valid; x.u = q; return run(x); });
    check_tensor_argument(pr, "k", true, 4, [&](void *q) { Args x = valid; x.k = static_cast<float *>(q); return run(x); });
    check_tensor_argument(pr, "in_gate", false, es, [&](void *q) { Args x = valid; x.in_gate = q; return run(x); });
    check_tensor_argument(pr, "out_gate", false, es, [&](void *q) { Args x = valid; x.out_gate = q; return run(x); });
    check_tensor_argument(pr, "du", false, es, [&](void *q) { Args x = valid; x.du = q; return run(x); });
    check_tensor_argument(pr, "dk", false, 4, [&](void *q) { Args x = valid; x.dk = static_cast<float *>(q); return run(x); });
    check_tensor_argument(pr, "d_in_gate", false, es, [&](void *q) { Args x = valid; x.d_in_gate = q; return run(x); });
    check_tensor_argument(pr, "d_out_gate", false, es, [&](void *q) { Args x = valid; x.d_out_gate = q; return run(x); });

    SECTION("a gate gradient requested without its gate") {
        a = valid;
        a.in_gate = nullptr;
        require_error(run(a), FFC_ERROR_INVALID_ARGUMENT, "in_gate");
        REQUIRE(pr.outputs_untouched());
        a = valid;
        a.out_gate = nullptr;
        require_error(run(a), FFC_ERROR_INVALID_ARGUMENT, "out_gate");
        REQUIRE(pr.outputs_untouched());
    }
    SECTION("workspace") {
        if (pr.ws_size > 0) {
            a = valid;
            a.ws_size = pr.ws_size - 1;
            require_error(run(a), FFC_ERROR_WORKSPACE_TOO_SMALL, "workspace_size");
            a = valid;
            a.ws = nullptr;
            require_error(run(a), FFC_ERROR_NULL_POINTER, "workspace");
            REQUIRE(pr.outputs_untouched());
        } else {
            WARN("the CPU backend needs no workspace for this shape: workspace checks skipped");
        }
    }
    SECTION("no output wanted is a successful no-op") {
        a = valid;
        a.du = nullptr;
        a.dk = nullptr;
        a.d_in_gate = nullptr;
        a.d_out_gate = nullptr;
        REQUIRE(run(a) == FFC_SUCCESS);
        REQUIRE(pr.outputs_untouched());
    }
}

TEST_CASE("ffc_conv_backward_spectrum rejects bad input and writes nothing", "[cpu][api]") {
    const ffc_dtype_t dtype = FFC_DTYPE_FP16;
    const size_t es = 2;
    Plan p(cpu_desc(kN, dtype));
    Problem pr(p.p, dtype, kShape);
    size_t spec_size = 0;
    REQUIRE(ffc_kernel_spectrum_get_size(p.p, &pr.shape, &spec_size) == FFC_SUCCESS);
    Buffer spectrum(spec_size);
    REQUIRE(ffc_kernel_spectrum_compute(p.p, &pr.shape, pr.k.as<float>(), spectrum.data(), spec_size, nullptr) ==
            FFC_SUCCESS);

    struct Args {
        ffc_plan_t plan;
        const ffc_shape_t *shape;
        const void *dy, *u, *spectrum;
        size_t spec_size;
        const void *in_gate, *out_gate;
        void *du;
        float *dk;
        void *d_in_gate, *d_out_gate, *ws;
        size_t ws_size;
    };
    const Args valid{p.p, &pr.shape, pr.dy.data(), pr.u.data(), spectrum.data(), spec_size, pr.in_gate.data(),
                     pr.out_gate.data(), pr.du.data(), pr.dk.as<float>(), pr.d_in_gate.data(),
                     pr.d_out_gate.data(), pr.ws_ptr(), pr.ws_size};
    auto run = [](const Args &a) {
        return ffc_conv_backward_spectrum(a.plan, a.shape, a.dy, a.u, a.spectrum, a.spec_size, a.in_gate, a.out_gate,
                                          a.du, a.dk, a.d_in_gate, a.d_out_gate, a.ws, a.ws_size, nullptr);
    };

    check_plan_and_shape(valid, run);
    REQUIRE(pr.outputs_untouched());
    Args a = valid;
    check_tensor_argument(pr, "dy", true, es, [&](void *q) { Args x = valid; x.dy = q; return run(x); });
    check_tensor_argument(pr, "u", true, es, [&](void *q) { Args x = valid; x.u = q; return run(x); });
    check_tensor_argument(pr, "spectrum", true, 16, [&](void *q) { Args x = valid; x.spectrum = q; return run(x); });
    check_tensor_argument(pr, "in_gate", false, es, [&](void *q) { Args x = valid; x.in_gate = q; return run(x); });
    check_tensor_argument(pr, "out_gate", false, es, [&](void *q) { Args x = valid; x.out_gate = q; return run(x); });
    check_tensor_argument(pr, "du", false, es, [&](void *q) { Args x = valid; x.du = q; return run(x); });
    check_tensor_argument(pr, "dk", false, 4, [&](void *q) { Args x = valid; x.dk = static_cast<float *>(q); return run(x); });
    check_tensor_argument(pr, "d_in_gate", false, es, [&](void *q) { Args x = valid; x.d_in_gate = q; return run(x); });
    check_tensor_argument(pr, "d_out_gate", false, es, [&](void *q) { Args x = valid; x.d_out_gate = q; return run(x); });
    a = valid;
    a.spec_size = spec_size - 1;
    require_error(run(a), FFC_ERROR_BUFFER_TOO_SMALL, "spectrum_size");
    a = valid;
    a.in_gate = nullptr;
    require_error(run(a), FFC_ERROR_INVALID_ARGUMENT, "in_gate");
    a = valid;
    a.dk = reinterpret_cast<float *>(spectrum.data());  // an output over the spectrum
    require_error(run(a), FFC_ERROR_INVALID_ARGUMENT, "dk overlaps spectrum");
    if (pr.ws_size > 0) {
        a = valid;
        a.ws_size = pr.ws_size - 1;
        require_error(run(a), FFC_ERROR_WORKSPACE_TOO_SMALL, "workspace_size");
    }
    REQUIRE(pr.outputs_untouched());

    REQUIRE(run(valid) == FFC_SUCCESS);
    CHECK_FALSE(pr.du.untouched());
    CHECK_FALSE(pr.dk.untouched());
}

TEST_CASE("spectrum entry points reject bad input and write nothing", "[cpu][api]") {
    const ffc_dtype_t dtype = FFC_DTYPE_FP32;
    Plan p(cpu_desc(kN, dtype));
    Problem pr(p.p, dtype, kShape);
    size_t spec_size = 0;
    REQUIRE(ffc_kernel_spectrum_get_size(p.p, &pr.shape, &spec_size) == FFC_SUCCESS);
    REQUIRE(spec_size > 0);
    Buffer spectrum(spec_size);

    SECTION("ffc_kernel_spectrum_compute") {
        struct Args {
            ffc_plan_t plan;
            const ffc_shape_t *shape;
            const float *k;
            void *spectrum;
            size_t size;
        };
        const Args valid{p.p, &pr.shape, pr.k.as<float>(), spectrum.data(), spec_size};
        auto run = [](const Args &a) { return ffc_kernel_spectrum_compute(a.plan, a.shape, a.k, a.spectrum, a.size, nullptr); };

        check_plan_and_shape(valid, run);
        Args a = valid;
        a.k = nullptr;
        require_error(run(a), FFC_ERROR_NULL_POINTER, "k");
        a = valid;
        a.k = static_cast<const float *>(pr.k.misaligned(2));
        require_error(run(a), FFC_ERROR_MISALIGNED_POINTER, "k");
        a = valid;
        a.spectrum = nullptr;
        require_error(run(a), FFC_ERROR_NULL_POINTER, "spectrum");
        Buffer odd(spec_size + 32);
        for (size_t by : {size_t(1), size_t(4), size_t(8)}) {
            a = valid;
            a.spectrum = odd.misaligned(by);
            require_error(run(a), FFC_ERROR_MISALIGNED_POINTER, "spectrum");
        }
        REQUIRE(odd.untouched());
        a = valid;
        a.size = spec_size - 1;
        require_error(run(a), FFC_ERROR_BUFFER_TOO_SMALL, "spectrum_size");
        REQUIRE(spectrum.untouched());

        REQUIRE(run(valid) == FFC_SUCCESS);
        CHECK_FALSE(spectrum.untouched());
    }

    SECTION("ffc_conv_forward_spectrum") {
        REQUIRE(ffc_kernel_spectrum_compute(p.p, &pr.shape, pr.k.as<float>(), spectrum.data(), spec_size, nullptr) ==
                FFC_SUCCESS);
        struct Args {
            ffc_plan_t plan;
            const ffc_shape_t *shape;
            const void *u, *spectrum;
            size_t spec_size;
            const void *in_gate, *out_gate;
            void *y, *ws;
            size_t ws_size;
        };
        const Args valid{p.p, &pr.shape, pr.u.data(), spectrum.data(), spec_size, pr.in_gate.data(),
                         pr.out_gate.data(), pr.y.data(), pr.ws_ptr(), pr.ws_size};
        auto run = [](const Args &a) {
            return ffc_conv_forward_spectrum(a.plan, a.shape, a.u, a.spectrum, a.spec_size, a.in_gate, a.out_gate, a.y,
                                             a.ws, a.ws_size, nullptr);
        };
        check_plan_and_shape(valid, run);
        REQUIRE(pr.outputs_untouched());
        Args a = valid;
        check_tensor_argument(pr, "u", true, 4, [&](void *q) { Args x = valid; x.u = q; return run(x); });
        check_tensor_argument(pr, "spectrum", true, 16, [&](void *q) { Args x = valid; x.spectrum = q; return run(x); });
        check_tensor_argument(pr, "in_gate", false, 4, [&](void *q) { Args x = valid; x.in_gate = q; return run(x); });
        check_tensor_argument(pr, "out_gate", false, 4, [&](void *q) { Args x = valid; x.out_gate = q; return run(x); });
        check_tensor_argument(pr, "y", true, 4, [&](void *q) { Args x = valid; x.y = q; return run(x); });
        a = valid;
        a.spec_size = spec_size - 1;
        require_error(run(a), FFC_ERROR_BUFFER_TOO_SMALL, "spectrum_size");
        if (pr.ws_size > 0) {
            a = valid;
            a.ws_size = pr.ws_size - 1;
            require_error(run(a), FFC_ERROR_WORKSPACE_TOO_SMALL, "workspace_size");
            a = valid;
            a.ws = nullptr;
            require_error(run(a), FFC_ERROR_NULL_POINTER, "workspace");
        }
        REQUIRE(pr.outputs_untouched());

        REQUIRE(run(valid) == FFC_SUCCESS);
        CHECK_FALSE(pr.y.untouched());
    }
}

TEST_CASE("execute calls reject outputs that overlap another operand and write nothing", "[cpu][api]") {
    const ffc_dtype_t dtype = FFC_DTYPE_FP32;
    Plan p(cpu_desc(kN, dtype));
    Problem pr(p.p, dtype, kShape);
    const size_t tensor = pr.elems * dtype_bytes(dtype);
    // Inputs may not change either: a rejected call that wrote through an
    // aliased output would show here.
    auto bytes_of = [](Buffer &b) { return std::vector<unsigned char>(b.data(), b.data() + b.size()); };
    const auto u0 = bytes_of(pr.u), k0 = bytes_of(pr.k), ig0 = bytes_of(pr.in_gate), og0 = bytes_of(pr.out_gate),
               dy0 = bytes_of(pr.dy);
    auto inputs_unchanged = [&] {
        return bytes_of(pr.u) == u0 && bytes_of(pr.k) == k0 && bytes_of(pr.in_gate) == ig0 &&
               bytes_of(pr.out_gate) == og0 && bytes_of(pr.dy) == dy0;
    };
    auto forward = [&](const void *u, void *y, void *ws) {
        return ffc_conv_forward(p.p, &pr.shape, u, pr.k.as<float>(), pr.in_gate.data(), pr.out_gate.data(), y, ws,
                                pr.ws_size, nullptr);
    };
    auto backward = [&](const void *dy, void *du, float *dk, void *dig, void *dog, void *ws) {
        return ffc_conv_backward(p.p, &pr.shape, dy, pr.u.data(), pr.k.as<float>(), pr.in_gate.data(),
                                 pr.out_gate.data(), du, dk, dig, dog, ws, pr.ws_size, nullptr);
    };

    SECTION("forward") {
        require_error(forward(pr.u.data(), pr.in_gate.data(), pr.ws_ptr()), FFC_ERROR_INVALID_ARGUMENT,
                      "y overlaps in_gate");
        require_error(forward(pr.u.data(), pr.out_gate.data() + tensor - 4, pr.ws_ptr()), FFC_ERROR_INVALID_ARGUMENT,
                      "y overlaps out_gate");  // one element in common
        require_error(forward(pr.u.data(), pr.u.data() + 4, pr.ws_ptr()), FFC_ERROR_INVALID_ARGUMENT,
                      "y overlaps u");  // shifted in-place is not in place
        require_error(forward(pr.u.data(), pr.k.data(), pr.ws_ptr()), FFC_ERROR_INVALID_ARGUMENT, "y overlaps k");
        if (pr.ws_size > 0) {
            require_error(forward(pr.u.data(), pr.y.data(), pr.in_gate.data()), FFC_ERROR_INVALID_ARGUMENT,
                          "workspace overlaps in_gate");
            require_error(forward(pr.u.data(), pr.y.data(), pr.y.data() + tensor - 1), FFC_ERROR_INVALID_ARGUMENT,
                          "y overlaps workspace");
        }
        REQUIRE(pr.outputs_untouched());
        REQUIRE(inputs_unchanged());

        // Adjacent ranges do not overlap: u and y back to back in one buffer.
        Buffer both(2 * tensor);
        std::memcpy(both.data() + tensor, pr.u.data(), tensor);
        REQUIRE(forward(both.data() + tensor, both.data(), pr.ws_ptr()) == FFC_SUCCESS);
        REQUIRE(std::memcmp(both.data() + tensor, pr.u.data(), tensor) == 0);
        // y == u exactly is the documented in-place form.
        REQUIRE(forward(both.data() + tensor, both.data() + tensor, pr.ws_ptr()) == FFC_SUCCESS);
    }

    SECTION("backward") {
        require_error(backward(pr.dy.data(), pr.du.data(), nullptr, pr.du.data(), nullptr, pr.ws_ptr()),
                      FFC_ERROR_INVALID_ARGUMENT, "du overlaps d_in_gate");
        require_error(backward(pr.dy.data(), pr.du.data(), pr.du.as<float>() + 1, nullptr, nullptr, pr.ws_ptr()),
                      FFC_ERROR_INVALID_ARGUMENT, "du overlaps dk");
        require_error(backward(pr.dy.data(), pr.dy.data(), nullptr, nullptr, nullptr, pr.ws_ptr()),
                      FFC_ERROR_INVALID_ARGUMENT, "du overlaps dy");  // no in-place backward
        require_error(backward(pr.dy.data(), nullptr, nullptr, nullptr, pr.out_gate.data(), pr.ws_ptr()),
                      FFC_ERROR_INVALID_ARGUMENT, "d_out_gate overlaps out_gate");
        require_error(backward(pr.dy.data(), nullptr, pr.k.as<float>(), nullptr, nullptr, pr.ws_ptr()),
                      FFC_ERROR_INVALID_ARGUMENT, "dk overlaps k");
        if (pr.ws_size > 0)
            require_error(backward(pr.dy.data(), pr.du.data(), nullptr, nullptr, nullptr, pr.u.data()),
                          FFC_ERROR_INVALID_ARGUMENT, "workspace overlaps u");
        REQUIRE(pr.outputs_untouched());
        REQUIRE(inputs_unchanged());
        REQUIRE(backward(pr.dy.data(), pr.du.data(), pr.dk.as<float>(), pr.d_in_gate.data(), pr.d_out_gate.data(),
                         pr.ws_ptr()) == FFC_SUCCESS);
    }

    SECTION("spectrum entry points") {
        size_t spec_size = 0;
        REQUIRE(ffc_kernel_spectrum_get_size(p.p, &pr.shape, &spec_size) == FFC_SUCCESS);
        Buffer spectrum(spec_size + pr.k.size());
        // The spectrum written over k (k at its start).
        std::memcpy(spectrum.data(), pr.k.data(), pr.k.size());
        require_error(ffc_kernel_spectrum_compute(p.p, &pr.shape, spectrum.as<float>(), spectrum.data(), spec_size,
                                                  nullptr),
                      FFC_ERROR_INVALID_ARGUMENT, "spectrum overlaps k");
        REQUIRE(std::memcmp(spectrum.data(), pr.k.data(), pr.k.size()) == 0);
        REQUIRE(ffc_kernel_spectrum_compute(p.p, &pr.shape, pr.k.as<float>(), spectrum.data(), spec_size, nullptr) ==
                FFC_SUCCESS);
        const auto spec0 = bytes_of(spectrum);
        require_error(ffc_conv_forward_spectrum(p.p, &pr.shape, pr.u.data(), spectrum.data(), spec_size,
                                                pr.in_gate.data(), pr.out_gate.data(), spectrum.data() + 16,
                                                pr.ws_ptr(), pr.ws_size, nullptr),
                      FFC_ERROR_INVALID_ARGUMENT, "y overlaps spectrum");
        REQUIRE(bytes_of(spectrum) == spec0);
        REQUIRE(pr.outputs_untouched());
        REQUIRE(inputs_unchanged());
    }
}

// ---------------------------------------------------------------------------
// Thread safety
// ---------------------------------------------------------------------------

TEST_CASE("concurrent ffc_conv_forward on one plan is bitwise identical to a single call", "[cpu][api]") {
    constexpr int kThreads = 8;
    constexpr int kIterations = 3;
    const ffc_dtype_t dtype = FFC_DTYPE_FP16;
    const ffc_shape_t shape = {3, 5, 1900, 1500};
    ffc_plan_desc_t d = cpu_desc(2048, dtype);
    d.cpu_threads = 2;  // the plan's own workers run inside each of the calling threads
    Plan p(d);
    Problem pr(p.p, dtype, shape);

    REQUIRE(ffc_conv_forward(p.p, &shape, pr.u.data(), pr.k.as<float>(), pr.in_gate.data(), pr.out_gate.data(),
                             pr.y.data(), pr.ws_ptr(), pr.ws_size, nullptr) == FFC_SUCCESS);
    const std::vector<unsigned char> reference(pr.y.data(), pr.y.data() + pr.y.size());

    std::vector<Buffer> ys, workspaces;
    ys.reserve(kThreads);  // no reallocation: a Buffer's alignment offset belongs to its storage
    workspaces.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        ys.emplace_back(pr.y.size());
        workspaces.emplace_back(pr.ws_size);
    }
    std::vector<int> failures(kThreads, 0);
    std::vector<std::string> errors(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            // Start together so the calls really overlap.
            ready.fetch_add(1);
            while (ready.load() < kThreads) std::this_thread::yield();
            for (int it = 0; it < kIterations; ++it) {
                ys[t].poison();
                const ffc_status_t st =
                    ffc_conv_forward(p.p, &shape, pr.u.data(), pr.k.as<float>(), pr.in_gate.data(),
                                     pr.out_gate.data(), ys[t].data(), pr.ws_size ? workspaces[t].data() : nullptr,
                                     pr.ws_size, nullptr);
                if (st != FFC_SUCCESS) {
                    errors[t] = last_error();
                    ++failures[t];
                } else if (std::memcmp(ys[t].data(), reference.data(), reference.size()) != 0) {
                    ++failures[t];
                }
            }
        });
    }
    for (std::thread &th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) {
        INFO("thread " << t << ": " << errors[t]);
        CHECK(failures[t] == 0);
    }
}
