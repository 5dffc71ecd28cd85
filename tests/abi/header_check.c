/* Compiled (not run) as C99 and as C++11 with warnings as errors: the public
 * header must be self-contained, pedantic-clean in both languages, and its
 * initialiser macros must be usable as written in the documentation. */
#include <flashfftconv/flashfftconv.h>

#include <flashfftconv/flashfftconv.h> /* include guard */

int ffc_header_check(void);

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
    return (int)status + (int)(FFC_VERSION_NUMBER - ffc_version_number());
}
