/* A downstream program built against an *installed* libflashfftconv (through
 * find_package or pkg-config, see run_consumer_test.sh). It runs a real gated
 * convolution on the CPU backend and checks it against a direct convolution in
 * double precision, so a broken install (wrong library, wrong header, missing
 * symbol) cannot pass by accident. */
#include <flashfftconv/flashfftconv.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B 3   /* odd: one sequence is paired with zeros */
#define H 2
#define L 300
#define K 200 /* L + K - 1 <= N: the causal linear convolution */
#define N 512

static float next_value(unsigned *state) { /* LCG: deterministic data in [-1, 1) */
    *state = *state * 1664525u + 1013904223u;
    return (float)((*state >> 8) & 0xffffffu) / 8388608.0f - 1.0f;
}

static int fail(const char *what, ffc_status_t status) {
    char msg[256];
    ffc_last_error_message(msg, sizeof msg);
    fprintf(stderr, "FAIL: %s: %s (%d): %s\n", what, ffc_status_string(status), (int)status, msg);
    return 1;
}

int main(void) {
    static float u[B * H * L], in_gate[B * H * L], out_gate[B * H * L], y[B * H * L], k[H * K];
    ffc_plan_desc_t desc = FFC_PLAN_DESC_INIT;
    ffc_shape_t shape;
    ffc_plan_t plan = NULL;
    ffc_status_t st;
    void *workspace = NULL;
    size_t ws_size = 0;
    double err2 = 0.0, ref2 = 0.0, rel;
    unsigned seed = 12345u;
    int i, b, h, t, s;

    if (ffc_version_number() != FFC_VERSION_NUMBER) {
        fprintf(stderr, "FAIL: header version %d, library version %u\n", FFC_VERSION_NUMBER, ffc_version_number());
        return 1;
    }
    printf("libflashfftconv %s: %s\n", ffc_version_string(), ffc_build_info());

    for (i = 0; i < B * H * L; ++i) {
        u[i] = next_value(&seed);
        in_gate[i] = next_value(&seed);
        out_gate[i] = next_value(&seed);
        y[i] = 0.0f;
    }
    for (i = 0; i < H * K; ++i) k[i] = next_value(&seed) / 16.0f;

    desc.fft_size = N;
    desc.dtype = FFC_DTYPE_FP32;
    desc.backend = FFC_BACKEND_CPU;
    st = ffc_plan_create(&plan, &desc);
    if (st != FFC_SUCCESS) return fail("ffc_plan_create", st);

    shape.batch = B;
    shape.channels = H;
    shape.seq_len = L;
    shape.kernel_len = K;
    st = ffc_plan_get_workspace_size(plan, &shape, &ws_size);
    if (st != FFC_SUCCESS) return fail("ffc_plan_get_workspace_size", st);
    if (ws_size > 0 && !(workspace = malloc(ws_size))) return fail("malloc", FFC_ERROR_OUT_OF_MEMORY);

    st = ffc_conv_forward(plan, &shape, u, k, in_gate, out_gate, y, workspace, ws_size, NULL);
    if (st != FFC_SUCCESS) return fail("ffc_conv_forward", st);
    ffc_plan_destroy(plan);
    free(workspace);

    /* y[t] = out_gate[t] * sum_{s <= t, s < K} k[s] * in_gate[t-s] * u[t-s] */
    for (b = 0; b < B; ++b)
        for (h = 0; h < H; ++h) {
            const size_t row = ((size_t)b * H + (size_t)h) * L;
            for (t = 0; t < L; ++t) {
                double z = 0.0, ref, d;
                for (s = 0; s <= t && s < K; ++s)
                    z += (double)k[h * K + s] * (double)in_gate[row + t - s] * (double)u[row + t - s];
                ref = (double)out_gate[row + t] * z;
                d = (double)y[row + t] - ref;
                err2 += d * d;
                ref2 += ref * ref;
            }
        }
    rel = sqrt(err2 / ref2);
    printf("gated causal convolution B=%d H=%d L=%d K=%d N=%d (fp32, CPU): rel-L2 error %.3g\n", B, H, L, K, N, rel);
    if (!(rel < 1e-5)) {
        fprintf(stderr, "FAIL: rel-L2 error %.3g exceeds 1e-5\n", rel);
        return 1;
    }
    printf("ok\n");
    return 0;
}
