#include "cuda/chunk_budgets.hpp"

#include <mutex>

namespace ffc::cuda {
namespace {
std::mutex g_mutex;
bool g_overridden = false;
ChunkBudgets g_override;
}  // namespace

ChunkBudgets chunk_budgets() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_overridden ? g_override : ChunkBudgets{};
}

void set_chunk_budgets_for_testing(const ChunkBudgets *budgets) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_overridden = budgets != nullptr;
    if (budgets) g_override = *budgets;
}

}  // namespace ffc::cuda
