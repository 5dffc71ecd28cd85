// Where does the hardware put the CTAs of thread-block clusters? A probe (not
// part of the build): a cluster kernel with the footprint of the 32K and 64K
// cluster variants (256 threads, two CTAs per SM through 100 KB of shared
// memory) records each CTA's SM and start and end times, for one wave of
// resident clusters (what a persistent kernel launches) and for forty waves (a
// normal launch), and prints the SMs used and the share of the time an SM holds
// two CTAs of the same cluster (docs/performance.md, thirty-second session).
//
//   nvcc -O2 -arch=sm_90 -std=c++17 bench/cluster_placement.cu -o placement && ./placement
#include <cstdio>
#include <vector>
#include <algorithm>
#include <cooperative_groups.h>
namespace cg = cooperative_groups;

__device__ unsigned smid() { unsigned r; asm volatile("mov.u32 %0, %%smid;" : "=r"(r)); return r; }
__device__ unsigned long long gtime() { unsigned long long t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); return t; }

template <int C>
__global__ void __launch_bounds__(256, 2) probe(int *sm, unsigned long long *t0, unsigned long long *t1, int spin_ns) {
    extern __shared__ char smem[];
    cg::this_cluster().sync();
    const unsigned long long start = gtime();
    // per-cluster duration varies a little, as real clusters' do
    const unsigned cl = blockIdx.x / C;
    const unsigned long long len = spin_ns + (cl * 2654435761u % 7) * (spin_ns / 10);
    while (gtime() - start < len) smem[threadIdx.x] += 1;
    cg::this_cluster().sync();
    if (threadIdx.x == 0) { sm[blockIdx.x] = smid(); t0[blockIdx.x] = start; t1[blockIdx.x] = gtime(); }
}

template <int C>
void run(int clusters, size_t smem, const char *what) {
    auto k = probe<C>;
    cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    const int n = clusters * C;
    int *sm; unsigned long long *a, *b;
    cudaMalloc(&sm, n * 4); cudaMalloc(&a, n * 8); cudaMalloc(&b, n * 8);
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr; attr.id = cudaLaunchAttributeClusterDimension; attr.val.clusterDim.x = C; attr.val.clusterDim.y = 1; attr.val.clusterDim.z = 1;
    cfg.gridDim = dim3(n); cfg.blockDim = dim3(256); cfg.dynamicSmemBytes = smem; cfg.attrs = &attr; cfg.numAttrs = 1;
    int active = 0; cudaOccupancyMaxActiveClusters(&active, k, &cfg);
    cudaLaunchKernelEx(&cfg, k, sm, a, b, 20000);
    cudaDeviceSynchronize();
    cudaLaunchKernelEx(&cfg, k, sm, a, b, 20000);
    if (cudaDeviceSynchronize() != cudaSuccess) { printf("error %s\n", cudaGetErrorString(cudaGetLastError())); return; }
    std::vector<int> hs(n); std::vector<unsigned long long> h0(n), h1(n);
    cudaMemcpy(hs.data(), sm, n * 4, cudaMemcpyDeviceToHost);
    cudaMemcpy(h0.data(), a, n * 8, cudaMemcpyDeviceToHost);
    cudaMemcpy(h1.data(), b, n * 8, cudaMemcpyDeviceToHost);
    double same = 0, other = 0;
    std::vector<std::vector<int>> by(256);
    for (int i = 0; i < n; ++i) by[hs[i]].push_back(i);
    int sms = 0;
    for (auto &v : by) {
        if (!v.empty()) ++sms;
        for (size_t x = 0; x < v.size(); ++x)
            for (size_t y = x + 1; y < v.size(); ++y) {
                const int i = v[x], j = v[y];
                const double ov = double(std::min(h1[i], h1[j])) - double(std::max(h0[i], h0[j]));
                if (ov <= 0) continue;
                (i / C == j / C ? same : other) += ov;
            }
    }
    unsigned long long lo = *std::min_element(h0.begin(), h0.end()), hi = *std::max_element(h1.begin(), h1.end());
    printf("%-34s C=%d clusters=%6d (resident %d): SMs used %d, co-resident time with a same-cluster partner %.1f %%, span %.2f ms\n",
           what, C, clusters, active, sms, 100 * same / (same + other + 1e-9), (hi - lo) / 1e6);
    cudaFree(sm); cudaFree(a); cudaFree(b);
}

int main() {
    const size_t smem = 100 * 1024;  // two CTAs per SM
    run<4>(62, smem, "one wave (persistent grid)");
    run<4>(66 * 40, smem, "forty waves (normal launch)");
    run<8>(30, smem, "one wave (persistent grid)");
    run<8>(33 * 40, smem, "forty waves (normal launch)");
    run<2>(132, smem, "one wave (persistent grid)");
    run<2>(132 * 40, smem, "forty waves (normal launch)");
    return 0;
}
