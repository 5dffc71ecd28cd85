/*
 * A gated causal convolution with the C API on the CPU backend:
 *
 *     y = out_gate * causal_conv(in_gate * u, k)
 *
 * for u, gates, y of shape (B, H, L) and k of shape (H, L), with FFT size
 * N = 2L so that the circular convolution of size N is the causal one. The result
 * is checked against a direct convolution. Exit status 0 means it matched.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "flashfftconv/flashfftconv.h"

/* Prints the failing call, its status and the library's message, then exits. */
static void check(ffc_status_t st, const char *what) {
    if (st == FFC_SUCCESS) return;
    char msg[512];
    ffc_last_error_message(msg, sizeof msg); /* thread-local: read it right away */
    fprintf(stderr, "%s failed: %s (%d): %s\n", what, ffc_status_string(st), (int)st, msg);
    exit(1);
}

int main(void) {
    enum { B = 2, H = 4, L = 1000 };
    const uint64_t N = 2048; /* >= L + K - 1 */
    printf("libflashfftconv %s: %s\n", ffc_version_string(), ffc_build_info());

    ffc_plan_desc_t desc = FFC_PLAN_DESC_INIT;
    desc.fft_size = N;
    desc.dtype = FFC_DTYPE_FP32;
    desc.backend = FFC_BACKEND_CPU;
    ffc_plan_t plan = NULL;
    check(ffc_plan_create(&plan, &desc), "ffc_plan_create");

    const ffc_shape_t shape = {B, H, L, L};
    const size_t n = (size_t)B * H * L;
    float *u = malloc(n * sizeof *u), *in_gate = malloc(n * sizeof *in_gate);
    float *out_gate = malloc(n * sizeof *out_gate), *y = malloc(n * sizeof *y);
    float *k = malloc((size_t)H * L * sizeof *k);
    if (!u || !in_gate || !out_gate || !y || !k) return 1;
    for (size_t i = 0; i < n; ++i) {
        u[i] = sinf(0.01f * (float)i);
        in_gate[i] = 1.0f + 0.5f * sinf(0.003f * (float)i);
        out_gate[i] = 0.5f + 0.5f * fabsf(sinf(0.007f * (float)i));
    }
    for (int h = 0; h < H; ++h) /* a decaying filter per channel */
        for (int s = 0; s < L; ++s) k[h * L + s] = expf(-(float)s / (50.0f * (float)(h + 1))) / 20.0f;

    /* Workspace: host memory for the CPU backend; its size depends on the shape. */
    size_t ws_size = 0;
    check(ffc_plan_get_workspace_size(plan, &shape, &ws_size), "ffc_plan_get_workspace_size");
    void *ws = ws_size ? malloc(ws_size) : NULL;
    if (ws_size && !ws) return 1;

    check(ffc_conv_forward(plan, &shape, u, k, in_gate, out_gate, y, ws, ws_size, NULL), "ffc_conv_forward");

    /* Direct causal convolution of one (batch, channel) row, in double. */
    const int b = 1, h = 2;
    const size_t row = ((size_t)b * H + h) * L;
    double max_err = 0.0;
    for (int t = 0; t < L; ++t) {
        double z = 0.0;
        for (int s = 0; s <= t; ++s) z += (double)k[h * L + s] * in_gate[row + t - s] * u[row + t - s];
        double e = fabs(out_gate[row + t] * z - y[row + t]);
        if (e > max_err) max_err = e;
    }
    printf("y[%d,%d,0..3] = %.6f %.6f %.6f %.6f\n", b, h, y[row], y[row + 1], y[row + 2], y[row + 3]);
    printf("max |y - direct| on that row: %.2e\n", max_err);

    /* Errors come back as a status plus a message, never as a crash: */
    ffc_shape_t too_long = shape;
    too_long.seq_len = 4096;
    ffc_status_t st = ffc_plan_get_workspace_size(plan, &too_long, &ws_size);
    char msg[256];
    ffc_last_error_message(msg, sizeof msg);
    printf("L = 4096 > N: %s: %s\n", ffc_status_string(st), msg);

    ffc_plan_destroy(plan);
    free(ws); free(u); free(in_gate); free(out_gate); free(y); free(k);
    if (max_err > 1e-4 || st != FFC_ERROR_INVALID_SHAPE) {
        fprintf(stderr, "FAILED\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
