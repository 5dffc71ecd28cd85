// The CPU backends' one way of running work on several threads.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <thread>

namespace ffc::cpu {

constexpr int kMaxThreads = 64;

// Runs fn(thread_index, first_item, end_item) over contiguous ranges of
// [0, items) on up to `threads` threads (at most kMaxThreads); thread 0 is the
// caller. If a thread cannot be started its range runs on the caller. The
// first exception (in thread order) is rethrown after every thread has joined.
template <class Fn>
void parallel_ranges(int64_t items, int threads, Fn &&fn) {
    const int t_count = int(std::min<int64_t>(std::clamp(threads, 1, kMaxThreads), items));
    if (t_count <= 1) {
        if (items > 0) fn(0, int64_t(0), items);
        return;
    }
    std::array<std::thread, kMaxThreads> pool;
    std::array<std::exception_ptr, kMaxThreads> errors;
    auto range = [&](int t) {
        try {
            fn(t, items * t / t_count, items * (t + 1) / t_count);
        } catch (...) {
            errors[size_t(t)] = std::current_exception();
        }
    };
    int started = 1;
    try {
        for (; started < t_count; ++started) pool[size_t(started)] = std::thread(range, started);
    } catch (...) {
        for (int t = started; t < t_count; ++t) range(t);
    }
    range(0);
    for (int t = 1; t < started; ++t) pool[size_t(t)].join();
    for (int t = 0; t < t_count; ++t)
        if (errors[size_t(t)]) std::rethrow_exception(errors[size_t(t)]);
}

}  // namespace ffc::cpu
