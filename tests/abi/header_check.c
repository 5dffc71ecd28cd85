/* Compiled (not run) as C99 and as C++11 with warnings as errors: the public
 * header must be self-contained, pedantic-clean in both languages, and its
 * initialiser macros must be usable as written in the documentation. */
#include <flashfftconv/flashfftconv.h>

#include <flashfftconv/flashfftconv.h> /* include guard */

int ffc_header_check(void);
int ffc_header_check_conv1d(void);

int ffc_header_check(void) {
    ffc_plan_desc_t desc = FFC_PLAN_DESC_INIT;
    ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
    ffc_shape_t shape = {1, 1, 256, 256};
    ffc_plan_t plan = NULL;
    ffc_stream_t stream = NULL;
    ffc_status_t status;
    size_t bytes = 0;

    desc.fft_size = FFC_MIN_FFT_SIZE;
    desc.backend = FFC_BACKEND_CPU;
    desc.dtype = FFC_DTYPE_BF16;
    status = ffc_plan_create(&plan, &desc);
    if (status == FFC_SUCCESS) status = ffc_plan_get_workspace_size(plan, &shape, &bytes);
    if (status == FFC_SUCCESS) status = ffc_plan_get_info(plan, &info);
    if (status == FFC_SUCCESS)
        status = ffc_conv_forward(plan, &shape, NULL, NULL, NULL, NULL, NULL, NULL, bytes, stream);
    ffc_plan_destroy(plan);
    return (int)status + (int)(FFC_VERSION_NUMBER - ffc_version_number()) + ffc_header_check_conv1d();
}

/* The short depthwise convolution's types, initialiser and entry points. */
int ffc_header_check_conv1d(void) {
    ffc_conv1d_desc_t desc = FFC_CONV1D_DESC_INIT;
    ffc_conv1d_shape_t shape = {2, 3, 16};
    ffc_conv1d_plan_t plan = NULL;
    ffc_status_t status;
    int64_t out_len = 0;
    size_t bytes = 0;

    desc.backend = FFC_BACKEND_CPU;
    desc.layout = FFC_LAYOUT_BLH;
    desc.kernel_size = 4;
    desc.padding_left = desc.kernel_size - 1;
    desc.padding_right = 0;
    status = ffc_conv1d_plan_create(&plan, &desc);
    if (status == FFC_SUCCESS) status = ffc_conv1d_plan_get_desc(plan, &desc);
    if (status == FFC_SUCCESS) status = ffc_conv1d_output_length(plan, shape.seq_len, &out_len);
    if (status == FFC_SUCCESS) status = ffc_conv1d_get_workspace_size(plan, &shape, &bytes);
    if (status == FFC_SUCCESS)
        status = ffc_conv1d_forward(plan, &shape, NULL, NULL, NULL, NULL, NULL, bytes, NULL);
    if (status == FFC_SUCCESS)
        status = ffc_conv1d_backward(plan, &shape, NULL, NULL, NULL, NULL, NULL, NULL, NULL, bytes, NULL);
    ffc_conv1d_plan_destroy(plan);
    return (int)status + (int)out_len + FFC_CONV1D_MAX_KERNEL_SIZE - (int)(FFC_CONV1D_DESC_MAGIC != 0u) -
           (int)FFC_CONV1D_DESC_VERSION;
}
