//! Raw FFI declarations mirroring `include/flashfftconv/flashfftconv.h`.
//!
//! Names, field order and types follow the header one to one, so the header's
//! documentation applies unchanged. Everything here is `unsafe` to call; the
//! crate root wraps it safely.
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_int, c_uint, c_void};

/// `ffc_status_t` (a C enum: `int`-sized).
pub type ffc_status_t = c_int;

pub const FFC_SUCCESS: ffc_status_t = 0;
pub const FFC_ERROR_INVALID_ARGUMENT: ffc_status_t = 1000;
pub const FFC_ERROR_NULL_POINTER: ffc_status_t = 1001;
pub const FFC_ERROR_INVALID_FFT_SIZE: ffc_status_t = 1002;
pub const FFC_ERROR_INVALID_SHAPE: ffc_status_t = 1003;
pub const FFC_ERROR_INVALID_DTYPE: ffc_status_t = 1004;
pub const FFC_ERROR_INVALID_DESCRIPTOR: ffc_status_t = 1005;
pub const FFC_ERROR_WORKSPACE_TOO_SMALL: ffc_status_t = 1006;
pub const FFC_ERROR_BUFFER_TOO_SMALL: ffc_status_t = 1007;
pub const FFC_ERROR_INVALID_BACKEND: ffc_status_t = 1008;
pub const FFC_ERROR_INVALID_DEVICE: ffc_status_t = 1009;
pub const FFC_ERROR_INVALID_FLAGS: ffc_status_t = 1010;
pub const FFC_ERROR_MISALIGNED_POINTER: ffc_status_t = 1011;
pub const FFC_ERROR_INVALID_POINTER: ffc_status_t = 1012;
pub const FFC_ERROR_NOT_SUPPORTED: ffc_status_t = 2000;
pub const FFC_ERROR_BACKEND_UNAVAILABLE: ffc_status_t = 2001;
pub const FFC_ERROR_NO_KERNEL: ffc_status_t = 2002;
pub const FFC_ERROR_CUDA: ffc_status_t = 3000;
pub const FFC_ERROR_OUT_OF_MEMORY: ffc_status_t = 3001;
pub const FFC_ERROR_INTERNAL: ffc_status_t = 4000;

pub const FFC_VERSION_MAJOR: u32 = 0;
pub const FFC_VERSION_MINOR: u32 = 5;
pub const FFC_VERSION_PATCH: u32 = 0;
pub const FFC_VERSION_NUMBER: u32 = FFC_VERSION_MAJOR * 10000 + FFC_VERSION_MINOR * 100 + FFC_VERSION_PATCH;
pub const FFC_MIN_FFT_SIZE: u64 = 256;
pub const FFC_MAX_FFT_SIZE: u64 = 4_194_304;

/// `ffc_dtype_t`
pub type ffc_dtype_t = c_int;
pub const FFC_DTYPE_FP32: ffc_dtype_t = 0;
pub const FFC_DTYPE_FP16: ffc_dtype_t = 1;
pub const FFC_DTYPE_BF16: ffc_dtype_t = 2;

/// `ffc_backend_t`
pub type ffc_backend_t = c_int;
pub const FFC_BACKEND_AUTO: ffc_backend_t = 0;
pub const FFC_BACKEND_CPU: ffc_backend_t = 1;
pub const FFC_BACKEND_CUDA: ffc_backend_t = 2;

/// `struct CUstream_st`: opaque; `ffc_stream_t` is ABI-identical to `cudaStream_t`.
#[repr(C)]
pub struct CUstream_st {
    _private: [u8; 0],
}
pub type ffc_stream_t = *mut CUstream_st;

/// `struct ffc_plan_s`: opaque plan.
#[repr(C)]
pub struct ffc_plan_s {
    _private: [u8; 0],
}
pub type ffc_plan_t = *mut ffc_plan_s;

pub const FFC_PLAN_DESC_MAGIC: u32 = 0x4646_4344; // "FFCD"
/// 2 added `force_kernel` (in version 1's `reserved[0]` slot); 3 added `freq_mask`
/// and `freq_mask_len` (in version 2's `reserved[0]` and `reserved[1]` slots). The
/// size never changed.
pub const FFC_PLAN_DESC_VERSION: u32 = 3;
/// Longest frequency mask (`freq_mask_len`): one entry per bin of the largest N.
pub const FFC_MAX_FREQ_MASK_LEN: u64 = FFC_MAX_FFT_SIZE;
pub const FFC_MAX_FACTORS: usize = 8;
/// Bytes the library reads of `force_kernel` at most, its NUL included.
pub const FFC_MAX_KERNEL_NAME: usize = 128;
pub const FFC_PLAN_DEFAULT: u32 = 0;
/// Partial convolution (0.3): the causal linear convolution of any seq_len, by
/// overlap-save windows of N when seq_len + kernel_len − 1 > N (which needs
/// kernel_len ≤ N/2); no in-place form (y ≠ u).
pub const FFC_PLAN_PARTIAL: u32 = 1;

/// `ffc_plan_desc_t`
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ffc_plan_desc_t {
    pub struct_size: usize,
    pub magic: u32,
    pub version: u32,
    pub fft_size: u64,
    pub dtype: i32,
    pub backend: i32,
    pub device: i32,
    pub flags: u32,
    pub force_factors: [u32; FFC_MAX_FACTORS],
    pub cpu_threads: i32,
    pub reserved0: u32,
    /// NUL-terminated kernel name, or null (the planner decides). Read during
    /// `ffc_plan_create` only.
    pub force_kernel: *const c_char,
    /// Frequency mask of `freq_mask_len` = G bytes (descriptor version 3), or null
    /// (the dense convolution): spectrum bin f of the filter is kept when
    /// `freq_mask[f mod G] != 0`. G is a power of two from 1 to N and the mask
    /// symmetric; not with `FFC_PLAN_PARTIAL`. Read during `ffc_plan_create` only.
    pub freq_mask: *const u8,
    /// G, the number of entries of `freq_mask` (0 when it is null).
    pub freq_mask_len: u32,
    pub reserved1: u32,
    pub reserved: [u64; 3],
}

impl ffc_plan_desc_t {
    /// The value of `FFC_PLAN_DESC_INIT`: fp16, automatic backend, current device.
    pub const fn init() -> Self {
        ffc_plan_desc_t {
            struct_size: core::mem::size_of::<ffc_plan_desc_t>(),
            magic: FFC_PLAN_DESC_MAGIC,
            version: FFC_PLAN_DESC_VERSION,
            fft_size: 0,
            dtype: FFC_DTYPE_FP16,
            backend: FFC_BACKEND_AUTO,
            device: -1,
            flags: FFC_PLAN_DEFAULT,
            force_factors: [0; FFC_MAX_FACTORS],
            cpu_threads: 0,
            reserved0: 0,
            force_kernel: core::ptr::null(),
            freq_mask: core::ptr::null(),
            freq_mask_len: 0,
            reserved1: 0,
            reserved: [0; 3],
        }
    }
}

/// `ffc_shape_t`
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ffc_shape_t {
    pub batch: i64,
    pub channels: i64,
    pub seq_len: i64,
    pub kernel_len: i64,
}

pub const FFC_PLAN_INFO_MAGIC: u32 = 0x4646_4349; // "FFCI"
pub const FFC_PLAN_INFO_VERSION: u32 = 1;

/// `ffc_plan_info_t`
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ffc_plan_info_t {
    pub struct_size: usize,
    pub magic: u32,
    pub version: u32,
    pub fft_size: u64,
    pub dtype: i32,
    pub backend: i32,
    pub device: i32,
    pub num_factors: i32,
    pub factors: [u32; FFC_MAX_FACTORS],
    pub fused: i32,
    pub reserved0: u32,
    pub predicted_us_per_sequence: f64,
    pub kernel_name: [c_char; 64],
}

impl ffc_plan_info_t {
    /// The value of `FFC_PLAN_INFO_INIT`.
    pub const fn init() -> Self {
        ffc_plan_info_t {
            struct_size: core::mem::size_of::<ffc_plan_info_t>(),
            magic: FFC_PLAN_INFO_MAGIC,
            version: FFC_PLAN_INFO_VERSION,
            fft_size: 0,
            dtype: 0,
            backend: 0,
            device: 0,
            num_factors: 0,
            factors: [0; FFC_MAX_FACTORS],
            fused: 0,
            reserved0: 0,
            predicted_us_per_sequence: 0.0,
            kernel_name: [0; 64],
        }
    }
}

/// `ffc_layout_t`: memory layout of a short convolution's (batch, channels, length) tensors.
pub type ffc_layout_t = c_int;
/// (B, H, L): each channel's sequence contiguous (PyTorch's Conv1d layout).
pub const FFC_LAYOUT_BHL: ffc_layout_t = 0;
/// (B, L, H): channels innermost.
pub const FFC_LAYOUT_BLH: ffc_layout_t = 1;

pub const FFC_CONV1D_DESC_MAGIC: u32 = 0x4646_4331; // "FFC1"
pub const FFC_CONV1D_DESC_VERSION: u32 = 1;
/// Longest filter of a short convolution.
pub const FFC_CONV1D_MAX_KERNEL_SIZE: i32 = 128;

/// `ffc_conv1d_desc_t`
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ffc_conv1d_desc_t {
    pub struct_size: usize,
    pub magic: u32,
    pub version: u32,
    pub dtype: i32,
    pub backend: i32,
    pub device: i32,
    pub layout: i32,
    pub kernel_size: i32,
    pub padding_left: i32,
    pub padding_right: i32,
    pub cpu_threads: i32,
    pub reserved: [u64; 6],
}

impl ffc_conv1d_desc_t {
    /// The value of `FFC_CONV1D_DESC_INIT`: fp16, (B, H, L), automatic backend,
    /// current device, K = 3, causal padding (2, 0).
    pub const fn init() -> Self {
        ffc_conv1d_desc_t {
            struct_size: core::mem::size_of::<ffc_conv1d_desc_t>(),
            magic: FFC_CONV1D_DESC_MAGIC,
            version: FFC_CONV1D_DESC_VERSION,
            dtype: FFC_DTYPE_FP16,
            backend: FFC_BACKEND_AUTO,
            device: -1,
            layout: FFC_LAYOUT_BHL,
            kernel_size: 3,
            padding_left: 2,
            padding_right: 0,
            cpu_threads: 0,
            reserved: [0; 6],
        }
    }
}

/// `struct ffc_conv1d_plan_s`: opaque short-convolution plan.
#[repr(C)]
pub struct ffc_conv1d_plan_s {
    _private: [u8; 0],
}
pub type ffc_conv1d_plan_t = *mut ffc_conv1d_plan_s;

/// `ffc_conv1d_shape_t`
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ffc_conv1d_shape_t {
    pub batch: i64,
    pub channels: i64,
    pub seq_len: i64,
}

extern "C" {
    pub fn ffc_status_string(status: ffc_status_t) -> *const c_char;
    pub fn ffc_last_error_message(buf: *mut c_char, buf_size: usize) -> usize;

    pub fn ffc_version_number() -> c_uint;
    pub fn ffc_version_string() -> *const c_char;
    pub fn ffc_build_info() -> *const c_char;

    pub fn ffc_backend_available(backend: ffc_backend_t) -> c_int;

    pub fn ffc_plan_create(plan: *mut ffc_plan_t, desc: *const ffc_plan_desc_t) -> ffc_status_t;
    pub fn ffc_plan_destroy(plan: ffc_plan_t);
    pub fn ffc_plan_get_workspace_size(
        plan: ffc_plan_t,
        shape: *const ffc_shape_t,
        workspace_size: *mut usize,
    ) -> ffc_status_t;
    pub fn ffc_plan_describe(plan: ffc_plan_t, buf: *mut c_char, buf_size: usize, required: *mut usize)
        -> ffc_status_t;
    pub fn ffc_plan_get_info(plan: ffc_plan_t, info: *mut ffc_plan_info_t) -> ffc_status_t;

    pub fn ffc_conv_forward(
        plan: ffc_plan_t,
        shape: *const ffc_shape_t,
        u: *const c_void,
        k: *const f32,
        in_gate: *const c_void,
        out_gate: *const c_void,
        y: *mut c_void,
        workspace: *mut c_void,
        workspace_size: usize,
        stream: ffc_stream_t,
    ) -> ffc_status_t;

    pub fn ffc_conv_backward(
        plan: ffc_plan_t,
        shape: *const ffc_shape_t,
        dy: *const c_void,
        u: *const c_void,
        k: *const f32,
        in_gate: *const c_void,
        out_gate: *const c_void,
        du: *mut c_void,
        dk: *mut f32,
        d_in_gate: *mut c_void,
        d_out_gate: *mut c_void,
        workspace: *mut c_void,
        workspace_size: usize,
        stream: ffc_stream_t,
    ) -> ffc_status_t;

    pub fn ffc_kernel_spectrum_get_size(
        plan: ffc_plan_t,
        shape: *const ffc_shape_t,
        spectrum_size: *mut usize,
    ) -> ffc_status_t;

    pub fn ffc_kernel_spectrum_compute(
        plan: ffc_plan_t,
        shape: *const ffc_shape_t,
        k: *const f32,
        spectrum: *mut c_void,
        spectrum_size: usize,
        stream: ffc_stream_t,
    ) -> ffc_status_t;

    pub fn ffc_conv_forward_spectrum(
        plan: ffc_plan_t,
        shape: *const ffc_shape_t,
        u: *const c_void,
        spectrum: *const c_void,
        spectrum_size: usize,
        in_gate: *const c_void,
        out_gate: *const c_void,
        y: *mut c_void,
        workspace: *mut c_void,
        workspace_size: usize,
        stream: ffc_stream_t,
    ) -> ffc_status_t;

    // 0.5: ffc_conv_backward with k replaced by a spectrum from ffc_kernel_spectrum_compute.
    pub fn ffc_conv_backward_spectrum(
        plan: ffc_plan_t,
        shape: *const ffc_shape_t,
        dy: *const c_void,
        u: *const c_void,
        spectrum: *const c_void,
        spectrum_size: usize,
        in_gate: *const c_void,
        out_gate: *const c_void,
        du: *mut c_void,
        dk: *mut f32,
        d_in_gate: *mut c_void,
        d_out_gate: *mut c_void,
        workspace: *mut c_void,
        workspace_size: usize,
        stream: ffc_stream_t,
    ) -> ffc_status_t;

    // -- short depthwise convolution (0.2) ------------------------------------------

    pub fn ffc_conv1d_plan_create(plan: *mut ffc_conv1d_plan_t, desc: *const ffc_conv1d_desc_t) -> ffc_status_t;
    pub fn ffc_conv1d_plan_destroy(plan: ffc_conv1d_plan_t);
    pub fn ffc_conv1d_plan_get_desc(plan: ffc_conv1d_plan_t, desc: *mut ffc_conv1d_desc_t) -> ffc_status_t;
    pub fn ffc_conv1d_output_length(plan: ffc_conv1d_plan_t, seq_len: i64, out_len: *mut i64) -> ffc_status_t;
    pub fn ffc_conv1d_get_workspace_size(
        plan: ffc_conv1d_plan_t,
        shape: *const ffc_conv1d_shape_t,
        workspace_size: *mut usize,
    ) -> ffc_status_t;

    pub fn ffc_conv1d_forward(
        plan: ffc_conv1d_plan_t,
        shape: *const ffc_conv1d_shape_t,
        x: *const c_void,
        weight: *const f32,
        bias: *const f32,
        y: *mut c_void,
        workspace: *mut c_void,
        workspace_size: usize,
        stream: ffc_stream_t,
    ) -> ffc_status_t;

    pub fn ffc_conv1d_backward(
        plan: ffc_conv1d_plan_t,
        shape: *const ffc_conv1d_shape_t,
        dy: *const c_void,
        x: *const c_void,
        weight: *const f32,
        dx: *mut c_void,
        dweight: *mut f32,
        dbias: *mut f32,
        workspace: *mut c_void,
        workspace_size: usize,
        stream: ffc_stream_t,
    ) -> ffc_status_t;
}

// The ABI is defined for LP64 targets: the header's sizes, checked at compile time
// (the library also rejects any other struct_size).
const _: () = assert!(core::mem::size_of::<ffc_plan_desc_t>() == 128);
const _: () = assert!(core::mem::size_of::<ffc_conv1d_desc_t>() == 96);

#[cfg(test)]
mod layout_tests {
    //! The header's structs laid out by the C rules (LP64: size_t and uint64_t
    //! 8-byte aligned, int32 4-byte): these numbers are what a C compiler gives
    //! for flashfftconv.h, and ffc_plan_create also rejects any other struct_size.
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn plan_desc_layout() {
        assert_eq!(size_of::<ffc_plan_desc_t>(), 128);
        assert_eq!(offset_of!(ffc_plan_desc_t, struct_size), 0);
        assert_eq!(offset_of!(ffc_plan_desc_t, magic), 8);
        assert_eq!(offset_of!(ffc_plan_desc_t, version), 12);
        assert_eq!(offset_of!(ffc_plan_desc_t, fft_size), 16);
        assert_eq!(offset_of!(ffc_plan_desc_t, dtype), 24);
        assert_eq!(offset_of!(ffc_plan_desc_t, backend), 28);
        assert_eq!(offset_of!(ffc_plan_desc_t, device), 32);
        assert_eq!(offset_of!(ffc_plan_desc_t, flags), 36);
        assert_eq!(offset_of!(ffc_plan_desc_t, force_factors), 40);
        assert_eq!(offset_of!(ffc_plan_desc_t, cpu_threads), 72);
        assert_eq!(offset_of!(ffc_plan_desc_t, reserved0), 76);
        // Version 2: force_kernel took version 1's reserved[0] slot.
        assert_eq!(offset_of!(ffc_plan_desc_t, force_kernel), 80);
        assert_eq!(size_of::<*const c_char>(), 8);
        // Version 3: freq_mask and freq_mask_len took version 2's reserved[0] and reserved[1].
        assert_eq!(offset_of!(ffc_plan_desc_t, freq_mask), 88);
        assert_eq!(size_of::<*const u8>(), 8);
        assert_eq!(offset_of!(ffc_plan_desc_t, freq_mask_len), 96);
        assert_eq!(offset_of!(ffc_plan_desc_t, reserved1), 100);
        assert_eq!(offset_of!(ffc_plan_desc_t, reserved), 104);
        assert_eq!(size_of::<[u64; 3]>(), 128 - 104);
    }

    #[test]
    fn plan_info_layout() {
        assert_eq!(size_of::<ffc_plan_info_t>(), 152);
        assert_eq!(offset_of!(ffc_plan_info_t, fft_size), 16);
        assert_eq!(offset_of!(ffc_plan_info_t, dtype), 24);
        assert_eq!(offset_of!(ffc_plan_info_t, backend), 28);
        assert_eq!(offset_of!(ffc_plan_info_t, device), 32);
        assert_eq!(offset_of!(ffc_plan_info_t, num_factors), 36);
        assert_eq!(offset_of!(ffc_plan_info_t, factors), 40);
        assert_eq!(offset_of!(ffc_plan_info_t, fused), 72);
        assert_eq!(offset_of!(ffc_plan_info_t, reserved0), 76);
        assert_eq!(offset_of!(ffc_plan_info_t, predicted_us_per_sequence), 80);
        assert_eq!(offset_of!(ffc_plan_info_t, kernel_name), 88);
    }

    #[test]
    fn shape_layout() {
        assert_eq!(size_of::<ffc_shape_t>(), 32);
        assert_eq!(offset_of!(ffc_shape_t, channels), 8);
        assert_eq!(offset_of!(ffc_shape_t, seq_len), 16);
        assert_eq!(offset_of!(ffc_shape_t, kernel_len), 24);
    }

    #[test]
    fn conv1d_desc_layout() {
        assert_eq!(size_of::<ffc_conv1d_desc_t>(), 96);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, struct_size), 0);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, magic), 8);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, version), 12);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, dtype), 16);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, backend), 20);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, device), 24);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, layout), 28);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, kernel_size), 32);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, padding_left), 36);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, padding_right), 40);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, cpu_threads), 44);
        assert_eq!(offset_of!(ffc_conv1d_desc_t, reserved), 48);
        assert_eq!(size_of::<[u64; 6]>(), 96 - 48);
        assert_eq!(size_of::<ffc_conv1d_shape_t>(), 24);
        assert_eq!(offset_of!(ffc_conv1d_shape_t, channels), 8);
        assert_eq!(offset_of!(ffc_conv1d_shape_t, seq_len), 16);
        assert_eq!(size_of::<ffc_layout_t>(), 4);
        assert_eq!(size_of::<ffc_conv1d_plan_t>(), size_of::<*mut c_void>());
        let d = ffc_conv1d_desc_t::init();
        assert_eq!((d.struct_size, d.magic, d.version), (96, 0x4646_4331, 1));
        assert_eq!((d.dtype, d.backend, d.device, d.layout), (FFC_DTYPE_FP16, FFC_BACKEND_AUTO, -1, FFC_LAYOUT_BHL));
        assert_eq!((d.kernel_size, d.padding_left, d.padding_right, d.cpu_threads), (3, 2, 0, 0));
        assert_eq!(d.reserved, [0; 6]);
    }

    #[test]
    fn version_is_0_5() {
        assert_eq!((FFC_VERSION_MAJOR, FFC_VERSION_MINOR), (0, 5));
        assert_eq!(FFC_VERSION_NUMBER, 500);
        assert_eq!((FFC_PLAN_DESC_VERSION, FFC_MAX_FREQ_MASK_LEN), (3, 4_194_304));
        assert_eq!((FFC_PLAN_DEFAULT, FFC_PLAN_PARTIAL), (0, 1));
    }

    #[test]
    fn enums_and_handles_are_c_sized() {
        assert_eq!(size_of::<ffc_status_t>(), 4);
        assert_eq!(size_of::<ffc_plan_t>(), size_of::<*mut c_void>());
        assert_eq!(size_of::<ffc_stream_t>(), size_of::<*mut c_void>());
    }

    #[test]
    fn init_matches_header_macro() {
        let d = ffc_plan_desc_t::init();
        assert_eq!((d.struct_size, d.magic, d.version), (128, 0x4646_4344, 3));
        assert_eq!((d.dtype, d.backend, d.device), (FFC_DTYPE_FP16, FFC_BACKEND_AUTO, -1));
        assert_eq!(d.flags, FFC_PLAN_DEFAULT);
        assert!(d.force_kernel.is_null());
        assert!(d.freq_mask.is_null());
        assert_eq!((d.freq_mask_len, d.reserved1), (0, 0));
        assert_eq!(d.reserved, [0; 3]);
        let i = ffc_plan_info_t::init();
        assert_eq!((i.struct_size, i.magic, i.version), (152, 0x4646_4349, 1));
    }
}
