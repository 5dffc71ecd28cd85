//! Safe Rust bindings for libflashfftconv: long depthwise 1-D convolutions with
//! the FFT, computed by the library's CPU backend (host slices) or its CUDA
//! backend (device pointers, through `unsafe` functions).
//!
//! What is computed (u, gates, y: (B, H, L); k: (H, K); FFT size N):
//!
//! ```text
//! v = in_gate ⊙ u;   z[t] = Σ_s k[s]·v[(t − s) mod N], t < L;   y = out_gate ⊙ z
//! ```
//!
//! With L + K − 1 ≤ N this is the causal linear convolution. A partial plan
//! ([`PlanDesc::partial`], library 0.3) computes the causal linear convolution
//! `z[t] = Σ_{s<K} k[s]·v[t − s]` for any L, L > N included, by overlap-save
//! windows of N (which needs K ≤ N/2 once L + K − 1 > N).
//!
//! A frequency-sparse plan ([`PlanDesc::frequency_mask`], library 0.4) masks
//! the filter's N-point spectrum: with a mask m of G entries, bin f is kept when
//! `m[f mod G] != 0`, so every call computes `z = IFFT_N(FFT_N(v)·FFT_N(k)·M)[t < L]`
//! (see [`freq_block_mask`]).
//!
//! Short filters (1 to 128 taps) have their own plan, [`Conv1dPlan`]: PyTorch's
//! depthwise `nn.Conv1d(H, H, K, groups=H)`, computed directly, in the (B, H, L)
//! or (B, L, H) layout.
//!
//! ```no_run
//! use flashfftconv::{Backend, DType, Plan, PlanDesc, Shape};
//! let plan = Plan::new(&PlanDesc::new(1024).dtype(DType::F32).backend(Backend::Cpu))?;
//! let shape = Shape::new(2, 4, 500, 500);
//! let u = vec![0.5f32; shape.signal_len()];
//! let k = vec![0.1f32; shape.kernel_elements()];
//! let mut y = vec![0f32; shape.signal_len()];
//! plan.forward(&shape, &u, &k, None, None, &mut y)?;
//! # Ok::<(), flashfftconv::Error>(())
//! ```

use core::ffi::{c_char, c_void, CStr};
use core::fmt;
use core::ptr::{self, NonNull};
use std::ffi::CString;

mod half;
pub mod sys;

pub use half::{Bf16, F16};

/// `Result` with this crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

/// A status code of the C API (`ffc_status_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Success,
    InvalidArgument,
    NullPointer,
    InvalidFftSize,
    InvalidShape,
    InvalidDtype,
    InvalidDescriptor,
    WorkspaceTooSmall,
    BufferTooSmall,
    InvalidBackend,
    InvalidDevice,
    InvalidFlags,
    MisalignedPointer,
    InvalidPointer,
    NotSupported,
    BackendUnavailable,
    NoKernel,
    Cuda,
    OutOfMemory,
    Internal,
    /// A code this version of the crate does not know (a newer library).
    Other(i32),
}

const STATUS_TABLE: [(Status, sys::ffc_status_t); 20] = [
    (Status::Success, sys::FFC_SUCCESS),
    (Status::InvalidArgument, sys::FFC_ERROR_INVALID_ARGUMENT),
    (Status::NullPointer, sys::FFC_ERROR_NULL_POINTER),
    (Status::InvalidFftSize, sys::FFC_ERROR_INVALID_FFT_SIZE),
    (Status::InvalidShape, sys::FFC_ERROR_INVALID_SHAPE),
    (Status::InvalidDtype, sys::FFC_ERROR_INVALID_DTYPE),
    (Status::InvalidDescriptor, sys::FFC_ERROR_INVALID_DESCRIPTOR),
    (Status::WorkspaceTooSmall, sys::FFC_ERROR_WORKSPACE_TOO_SMALL),
    (Status::BufferTooSmall, sys::FFC_ERROR_BUFFER_TOO_SMALL),
    (Status::InvalidBackend, sys::FFC_ERROR_INVALID_BACKEND),
    (Status::InvalidDevice, sys::FFC_ERROR_INVALID_DEVICE),
    (Status::InvalidFlags, sys::FFC_ERROR_INVALID_FLAGS),
    (Status::MisalignedPointer, sys::FFC_ERROR_MISALIGNED_POINTER),
    (Status::InvalidPointer, sys::FFC_ERROR_INVALID_POINTER),
    (Status::NotSupported, sys::FFC_ERROR_NOT_SUPPORTED),
    (Status::BackendUnavailable, sys::FFC_ERROR_BACKEND_UNAVAILABLE),
    (Status::NoKernel, sys::FFC_ERROR_NO_KERNEL),
    (Status::Cuda, sys::FFC_ERROR_CUDA),
    (Status::OutOfMemory, sys::FFC_ERROR_OUT_OF_MEMORY),
    (Status::Internal, sys::FFC_ERROR_INTERNAL),
];

impl Status {
    /// The status for a raw code.
    pub fn from_raw(code: sys::ffc_status_t) -> Status {
        STATUS_TABLE.iter().find(|(_, c)| *c == code).map_or(Status::Other(code), |(s, _)| *s)
    }

    /// The raw code.
    pub fn as_raw(self) -> sys::ffc_status_t {
        match self {
            Status::Other(c) => c,
            s => STATUS_TABLE.iter().find(|(t, _)| *t == s).map(|(_, c)| *c).unwrap(),
        }
    }

    /// The library's fixed description (`ffc_status_string`).
    pub fn description(self) -> String {
        // SAFETY: ffc_status_string returns a static NUL-terminated string for any value.
        unsafe { cstr_to_string(sys::ffc_status_string(self.as_raw())) }
    }
}

/// A failure: the library's status and its detail message for the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

impl Error {
    /// An error raised by these bindings (before calling the library).
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flashfftconv: {} ({}): {}", self.status.description(), self.status.as_raw(), self.message)
    }
}

impl std::error::Error for Error {}

unsafe fn cstr_to_string(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// The calling thread's last error message. It is thread-local inside the
/// library and cleared by the next successful call, so it must be read right
/// after the failure, on the same thread (which [`check`] does).
pub fn last_error_message() -> String {
    // SAFETY: a NULL buffer of size 0 is the documented length query; the second
    // call writes at most buf.len() bytes including the NUL.
    unsafe {
        let n = sys::ffc_last_error_message(ptr::null_mut(), 0);
        let mut buf = vec![0u8; n + 1];
        sys::ffc_last_error_message(buf.as_mut_ptr().cast(), buf.len());
        buf.truncate(n);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Turns a raw status into `Ok(())` or an [`Error`] with the library's message.
pub fn check(status: sys::ffc_status_t) -> Result<()> {
    if status == sys::FFC_SUCCESS {
        Ok(())
    } else {
        Err(Error { status: Status::from_raw(status), message: last_error_message() })
    }
}

/// `MAJOR·10000 + MINOR·100 + PATCH` of the loaded library.
pub fn version_number() -> u32 {
    // SAFETY: no arguments, no preconditions.
    unsafe { sys::ffc_version_number() }
}

/// "MAJOR.MINOR.PATCH" of the loaded library.
pub fn version_string() -> String {
    // SAFETY: returns static storage.
    unsafe { cstr_to_string(sys::ffc_version_string()) }
}

/// Build information of the loaded library as JSON (version, CUDA on/off, SM list).
pub fn build_info() -> String {
    // SAFETY: returns static storage.
    unsafe { cstr_to_string(sys::ffc_build_info()) }
}

/// Whether the loaded library fits these bindings: the same major version and,
/// while the major is 0, the same minor (0.x releases are compatible only within
/// one minor version, like the library's SONAME); from 1.0 on, at least the
/// minor version the bindings were written for.
pub fn version_compatible() -> bool {
    let v = version_number();
    let (major, minor) = (v / 10000, v / 100 % 100);
    major == sys::FFC_VERSION_MAJOR
        && if major == 0 { minor == sys::FFC_VERSION_MINOR } else { minor >= sys::FFC_VERSION_MINOR }
}

/// Element type of u, the gates, y and their gradients (k and dk are always f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    Bf16,
}

impl DType {
    fn raw(self) -> sys::ffc_dtype_t {
        match self {
            DType::F32 => sys::FFC_DTYPE_FP32,
            DType::F16 => sys::FFC_DTYPE_FP16,
            DType::Bf16 => sys::FFC_DTYPE_BF16,
        }
    }

    fn from_raw(v: i32) -> DType {
        match v {
            sys::FFC_DTYPE_FP32 => DType::F32,
            sys::FFC_DTYPE_BF16 => DType::Bf16,
            _ => DType::F16,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        if self == DType::F32 {
            4
        } else {
            2
        }
    }
}

/// Where a plan executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// CUDA if compiled in and a device exists, else CPU.
    Auto,
    /// Host memory: the reference backend.
    Cpu,
    /// Device memory, tensor cores.
    Cuda,
}

impl Backend {
    fn raw(self) -> sys::ffc_backend_t {
        match self {
            Backend::Auto => sys::FFC_BACKEND_AUTO,
            Backend::Cpu => sys::FFC_BACKEND_CPU,
            Backend::Cuda => sys::FFC_BACKEND_CUDA,
        }
    }

    fn from_raw(v: i32) -> Backend {
        match v {
            sys::FFC_BACKEND_CPU => Backend::Cpu,
            sys::FFC_BACKEND_CUDA => Backend::Cuda,
            _ => Backend::Auto,
        }
    }

    /// Whether this backend can run in this process.
    pub fn available(self) -> bool {
        // SAFETY: plain value argument.
        unsafe { sys::ffc_backend_available(self.raw()) != 0 }
    }
}

/// Host element types accepted by the slice API: `f32`, [`F16`], [`Bf16`].
pub trait Element: Copy + sealed::Sealed {
    /// The matching library dtype.
    const DTYPE: DType;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for F16 {
    const DTYPE: DType = DType::F16;
}
impl Element for Bf16 {
    const DTYPE: DType = DType::Bf16;
}
mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for super::F16 {}
    impl Sealed for super::Bf16 {}
}

/// Shape of one call: u, gates, y are (batch, channels, seq_len) row-major;
/// k is (channels, kernel_len).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub batch: i64,
    pub channels: i64,
    pub seq_len: i64,
    pub kernel_len: i64,
}

impl Shape {
    /// Shape (B, H, L) for u and (H, K) for k.
    pub fn new(batch: i64, channels: i64, seq_len: i64, kernel_len: i64) -> Shape {
        Shape { batch, channels, seq_len, kernel_len }
    }

    /// B·H·L: elements of u, y and each gate (0 for a negative dimension).
    pub fn signal_len(&self) -> usize {
        [self.batch, self.channels, self.seq_len].iter().map(|&d| d.max(0) as usize).product()
    }

    /// H·K: elements of k and dk.
    pub fn kernel_elements(&self) -> usize {
        self.channels.max(0) as usize * self.kernel_len.max(0) as usize
    }

    fn raw(&self) -> sys::ffc_shape_t {
        sys::ffc_shape_t {
            batch: self.batch,
            channels: self.channels,
            seq_len: self.seq_len,
            kernel_len: self.kernel_len,
        }
    }
}

/// Builder for a plan descriptor (`ffc_plan_desc_t`, from `FFC_PLAN_DESC_INIT`).
#[derive(Debug)]
pub struct PlanDesc {
    raw: sys::ffc_plan_desc_t,
    too_many_factors: Option<usize>,
    // The string `raw.force_kernel` points into (its heap buffer does not move
    // with the builder); `Err` holds a name with an interior NUL, which
    // `Plan::new` reports.
    force_kernel: Option<core::result::Result<CString, String>>,
    // The bytes `raw.freq_mask` points into (a `Vec`'s heap buffer does not move
    // with the builder either); `None`: no mask, a null pointer.
    freq_mask: Option<Vec<u8>>,
}

// SAFETY: the only pointers in `raw` are `force_kernel` and `freq_mask`, which
// point into the builder's own `CString` and `Vec` (or are null); both are never
// mutated while pointed to, and nothing else aliases them.
unsafe impl Send for PlanDesc {}
unsafe impl Sync for PlanDesc {}

impl Clone for PlanDesc {
    fn clone(&self) -> Self {
        let mut copy = PlanDesc {
            raw: self.raw,
            too_many_factors: self.too_many_factors,
            force_kernel: self.force_kernel.clone(),
            freq_mask: self.freq_mask.clone(),
        };
        copy.repoint(); // the clone's pointers must refer to its own string and mask
        copy
    }
}

impl PlanDesc {
    /// A descriptor for FFT size `fft_size`, fp16, automatic backend, current device.
    pub fn new(fft_size: u64) -> PlanDesc {
        let mut raw = sys::ffc_plan_desc_t::init();
        raw.fft_size = fft_size;
        PlanDesc { raw, too_many_factors: None, force_kernel: None, freq_mask: None }
    }
    fn repoint(&mut self) {
        self.raw.force_kernel = match &self.force_kernel {
            Some(Ok(name)) => name.as_ptr(),
            _ => ptr::null(),
        };
        (self.raw.freq_mask, self.raw.freq_mask_len) = match &self.freq_mask {
            // A length beyond u32 is refused by `Plan::new` before the library sees it.
            Some(m) => (m.as_ptr(), u32::try_from(m.len()).unwrap_or(u32::MAX)),
            None => (ptr::null(), 0),
        };
    }
    /// I/O element type.
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.raw.dtype = dtype.raw();
        self
    }
    /// Backend.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.raw.backend = backend.raw();
        self
    }
    /// CUDA device ordinal (−1: the current device).
    pub fn device(mut self, device: i32) -> Self {
        self.raw.device = device;
        self
    }
    /// CPU backend worker threads (0: hardware concurrency, at most 16).
    pub fn cpu_threads(mut self, threads: i32) -> Self {
        self.raw.cpu_threads = threads;
        self
    }
    /// Raw `FFC_PLAN_*` flags (replaces all of them, [`PlanDesc::partial`] included).
    pub fn flags(mut self, flags: u32) -> Self {
        self.raw.flags = flags;
        self
    }
    /// Sets or clears `FFC_PLAN_PARTIAL` (library 0.3): the plan then computes
    /// the causal linear convolution `z[t] = Σ_{s<K} k[s]·v[t − s]` (v zero
    /// before t = 0) for any `seq_len`, longer than the FFT size included. When
    /// L + K − 1 ≤ N the call is the plain plan's; otherwise the library runs
    /// overlap-save windows of N overlapping by K − 1 rounded up to 8, which needs
    /// K ≤ N/2 (else `InvalidShape`). Forward, backward and the spectrum path
    /// all work; y may not be u (`InvalidArgument`; the slice API cannot alias
    /// them anyway). Other flag bits are kept.
    pub fn partial(mut self, on: bool) -> Self {
        if on {
            self.raw.flags |= sys::FFC_PLAN_PARTIAL;
        } else {
            self.raw.flags &= !sys::FFC_PLAN_PARTIAL;
        }
        self
    }
    /// Whether `FFC_PLAN_PARTIAL` is set.
    pub fn is_partial(&self) -> bool {
        self.raw.flags & sys::FFC_PLAN_PARTIAL != 0
    }
    /// Forces a Monarch factorisation, outermost first (empty: the planner decides).
    /// More than 8 factors make [`Plan::new`] fail with `InvalidFlags`.
    pub fn force_factors(mut self, factors: &[u32]) -> Self {
        self.raw.force_factors = [0; sys::FFC_MAX_FACTORS];
        self.too_many_factors = (factors.len() > sys::FFC_MAX_FACTORS).then_some(factors.len());
        for (slot, f) in self.raw.force_factors.iter_mut().zip(factors) {
            *slot = *f;
        }
        self
    }
    /// Forces one compiled candidate by its kernel name, as [`Plan::describe`]
    /// prints it in the candidate table's kernel column (for a multi-pass
    /// candidate, its inner kernel). CUDA backend only: the CPU backend has no
    /// kernel variants and [`Plan::new`] fails with `NoKernel`. Unknown names are
    /// `NoKernel` too (the message lists the candidates); a name with an interior
    /// NUL makes [`Plan::new`] fail with `InvalidFlags`.
    pub fn force_kernel(mut self, name: &str) -> Self {
        self.force_kernel = Some(CString::new(name).map_err(|_| name.to_owned()));
        self.repoint();
        self
    }
    /// Makes the plan frequency-sparse (library 0.4; `ffc_plan_desc_t::freq_mask`):
    /// with G = `mask.len()`, bin f of the filter's N-point spectrum is kept when
    /// `mask[f mod G] != 0` and zeroed otherwise, so forward, backward and the
    /// spectrum path compute `z = IFFT_N(FFT_N(v)·FFT_N(k)·M)[t < L]` (backward
    /// is its exact gradient: dk = IFFT_N(M·Σ_b conj(V_b)·DZ_b)[s < K]).
    ///
    /// G must be a power of two from 1 to N and the mask symmetric (`mask[j]` and
    /// `mask[(G − j) mod G]` both zero or both nonzero), else [`Plan::new`] fails
    /// with `InvalidArgument`; with [`PlanDesc::partial`] it fails with
    /// `NotSupported`. An empty slice removes the mask (the dense convolution),
    /// as in the C++ wrapper. The descriptor keeps its own copy; see
    /// [`freq_block_mask`] for a block mask.
    pub fn frequency_mask(mut self, mask: &[u8]) -> Self {
        self.freq_mask = (!mask.is_empty()).then(|| mask.to_vec());
        self.repoint();
        self
    }
    /// The frequency mask set with [`PlanDesc::frequency_mask`], if any.
    pub fn freq_mask(&self) -> Option<&[u8]> {
        self.freq_mask.as_deref()
    }
    /// The C descriptor (its `force_kernel` and `freq_mask` pointers are valid
    /// while `self` lives unchanged).
    pub fn as_raw(&self) -> &sys::ffc_plan_desc_t {
        &self.raw
    }
}

/// A symmetric frequency mask of `blocks` entries keeping the residues nearest 0
/// on either side: entry j is 1 when `min(j, blocks − j) < kept`, else 0 (so
/// `min(2·kept − 1, blocks)` ones). As [`PlanDesc::frequency_mask`] (G = blocks)
/// it keeps bin f exactly when f mod G lies within kept − 1 of 0, circularly;
/// with G = M, the outer Monarch factor of N = M·N_in, each residue is one row
/// of the spectrum, kept or dropped whole; with G = N it is a low-pass filter.
///
/// `blocks` must be a power of two and `kept` in 1..=blocks/2 + 1, else
/// `InvalidArgument`.
pub fn freq_block_mask(blocks: usize, kept: usize) -> Result<Vec<u8>> {
    if !blocks.is_power_of_two() {
        return Err(Error::new(Status::InvalidArgument, format!("blocks = {blocks} is not a power of two")));
    }
    if kept < 1 || kept > blocks / 2 + 1 {
        return Err(Error::new(
            Status::InvalidArgument,
            format!("kept = {kept} is outside 1..={} (blocks / 2 + 1 for blocks = {blocks})", blocks / 2 + 1),
        ));
    }
    Ok((0..blocks).map(|j| u8::from(j.min(blocks - j) < kept)).collect())
}

/// What a plan resolved to (`ffc_plan_info_t`).
#[derive(Clone, Debug, PartialEq)]
pub struct PlanInfo {
    pub fft_size: u64,
    pub dtype: DType,
    /// The resolved backend (never `Auto`).
    pub backend: Backend,
    /// CUDA device ordinal, −1 for the CPU backend.
    pub device: i32,
    /// Monarch factorisation, outermost first.
    pub factors: Vec<u32>,
    pub fused: bool,
    pub predicted_us_per_sequence: f64,
    pub kernel_name: String,
}

/// Optional outputs of [`Plan::backward`]; `None` means "not wanted" and the
/// library skips the work that only feeds it.
#[derive(Debug, Default)]
pub struct Gradients<'a, T> {
    pub du: Option<&'a mut [T]>,
    pub dk: Option<&'a mut [f32]>,
    pub d_in_gate: Option<&'a mut [T]>,
    pub d_out_gate: Option<&'a mut [T]>,
}

/// A precomputed filter spectrum in host memory, for [`Plan::forward_spectrum`]
/// and [`Plan::backward_spectrum`]. Made by [`Plan::compute_spectrum`] and tied
/// to that plan and (H, K).
pub struct Spectrum {
    blocks: Vec<Align16>,
    bytes: usize,
    plan: usize,
    channels: i64,
    kernel_len: i64,
}

// The library requires 16-byte alignment of spectrum buffers.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Align16([u8; 16]);

impl Spectrum {
    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.bytes
    }
    /// Whether the spectrum is empty (never, for a valid plan).
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }
}

/// An owned plan. Dropping it calls `ffc_plan_destroy`.
///
/// A plan is immutable after creation, and the library allows any number of
/// threads to execute on it at once (each call with its own workspace and
/// outputs), so `Plan` is `Send + Sync`; share it with `Arc`.
pub struct Plan {
    raw: NonNull<sys::ffc_plan_s>,
    dtype: DType,
    backend: Backend,
    partial: bool,
}

// SAFETY: see the type's documentation: the C API documents concurrent execute
// calls on one plan as safe; destruction needs exclusive ownership, which Drop has.
unsafe impl Send for Plan {}
unsafe impl Sync for Plan {}

impl Drop for Plan {
    fn drop(&mut self) {
        // SAFETY: we own the handle and nothing else can use it any more.
        unsafe { sys::ffc_plan_destroy(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("dtype", &self.dtype)
            .field("backend", &self.backend)
            .field("partial", &self.partial)
            .finish()
    }
}

fn len_check(what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::new(Status::InvalidShape, format!("{what} has {got} elements, the shape needs {want}")));
    }
    Ok(())
}

fn opt_ptr<T>(s: Option<&[T]>) -> *const c_void {
    s.map_or(ptr::null(), |s| s.as_ptr().cast())
}

fn opt_mut_ptr<T>(s: &mut Option<&mut [T]>) -> *mut T {
    s.as_deref_mut().map_or(ptr::null_mut(), |s| s.as_mut_ptr())
}

/// The slice lengths of a backward call (k aside): dy, u, the gates and the
/// wanted gradients against `shape`.
fn backward_len_checks<T>(
    shape: &Shape,
    dy: &[T],
    u: &[T],
    in_gate: Option<&[T]>,
    out_gate: Option<&[T]>,
    grads: &Gradients<'_, T>,
) -> Result<()> {
    let n = shape.signal_len();
    len_check("dy", dy.len(), n)?;
    len_check("u", u.len(), n)?;
    for (what, g) in [("in_gate", in_gate), ("out_gate", out_gate)] {
        if let Some(g) = g {
            len_check(what, g.len(), n)?;
        }
    }
    for (what, g) in [("du", &grads.du), ("d_in_gate", &grads.d_in_gate), ("d_out_gate", &grads.d_out_gate)] {
        if let Some(g) = g {
            len_check(what, g.len(), n)?;
        }
    }
    if let Some(dk) = &grads.dk {
        len_check("dk", dk.len(), shape.kernel_elements())?;
    }
    Ok(())
}

impl Plan {
    /// Creates a plan (runs the planner, builds tables).
    pub fn new(desc: &PlanDesc) -> Result<Plan> {
        if let Some(n) = desc.too_many_factors {
            return Err(Error::new(
                Status::InvalidFlags,
                format!("{n} forced factors, at most {} fit in the descriptor", sys::FFC_MAX_FACTORS),
            ));
        }
        if let Some(Err(name)) = &desc.force_kernel {
            return Err(Error::new(Status::InvalidFlags, format!("force_kernel {name:?} contains a NUL character")));
        }
        if let Some(m) = &desc.freq_mask {
            if u32::try_from(m.len()).is_err() {
                return Err(Error::new(
                    Status::InvalidArgument,
                    format!("freq_mask has {} entries, more than freq_mask_len (u32) can hold", m.len()),
                ));
            }
        }
        let mut raw: sys::ffc_plan_t = ptr::null_mut();
        // SAFETY: both pointers are valid for the call; the descriptor is fully initialised.
        check(unsafe { sys::ffc_plan_create(&mut raw, &desc.raw) })?;
        let raw = NonNull::new(raw).ok_or_else(|| Error::new(Status::Internal, "ffc_plan_create returned NULL"))?;
        let mut plan = Plan { raw, dtype: DType::F16, backend: Backend::Cpu, partial: desc.is_partial() };
        let info = plan.info()?; // on error, `plan` is dropped and the handle destroyed
        plan.dtype = info.dtype;
        plan.backend = info.backend;
        Ok(plan)
    }

    /// Takes ownership of a raw handle.
    ///
    /// # Safety
    /// `raw` must come from `ffc_plan_create` and not be owned or destroyed elsewhere.
    pub unsafe fn from_raw(raw: sys::ffc_plan_t) -> Result<Plan> {
        let raw = NonNull::new(raw).ok_or_else(|| Error::new(Status::NullPointer, "plan is NULL"))?;
        let mut plan = Plan { raw, dtype: DType::F16, backend: Backend::Cpu, partial: false };
        let info = plan.info()?;
        plan.dtype = info.dtype;
        plan.backend = info.backend;
        // The C API reports no flags: a partial plan is the one that accepts a
        // sequence one longer than its FFT size (a query; nothing runs).
        let probe = Shape::new(1, 1, info.fft_size as i64 + 1, 1).raw();
        let mut n = 0usize;
        // SAFETY: valid handle, shape and output pointer.
        let st = sys::ffc_plan_get_workspace_size(plan.as_raw(), &probe, &mut n);
        plan.partial = match st {
            sys::FFC_SUCCESS => true,
            sys::FFC_ERROR_INVALID_SHAPE => false,
            _ => return Err(check(st).unwrap_err()),
        };
        Ok(plan)
    }

    /// Gives up ownership; the caller must eventually call `ffc_plan_destroy`.
    pub fn into_raw(self) -> sys::ffc_plan_t {
        let raw = self.raw.as_ptr();
        core::mem::forget(self);
        raw
    }

    /// The raw handle (still owned by `self`).
    pub fn as_raw(&self) -> sys::ffc_plan_t {
        self.raw.as_ptr()
    }

    /// The plan's I/O dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The resolved backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the plan is a partial one (`FFC_PLAN_PARTIAL`, [`PlanDesc::partial`]).
    pub fn is_partial(&self) -> bool {
        self.partial
    }

    /// What the plan resolved to.
    pub fn info(&self) -> Result<PlanInfo> {
        let mut c = sys::ffc_plan_info_t::init();
        // SAFETY: valid handle and an initialised info struct.
        check(unsafe { sys::ffc_plan_get_info(self.as_raw(), &mut c) })?;
        let n = c.num_factors.clamp(0, sys::FFC_MAX_FACTORS as i32) as usize;
        // SAFETY: the library NUL-terminates kernel_name; the array is 64 bytes.
        let name = unsafe { CStr::from_ptr(c.kernel_name.as_ptr()) }.to_string_lossy().into_owned();
        Ok(PlanInfo {
            fft_size: c.fft_size,
            dtype: DType::from_raw(c.dtype),
            backend: Backend::from_raw(c.backend),
            device: c.device,
            factors: c.factors[..n].to_vec(),
            fused: c.fused != 0,
            predicted_us_per_sequence: c.predicted_us_per_sequence,
            kernel_name: name,
        })
    }

    /// The planner's decision in words.
    pub fn describe(&self) -> Result<String> {
        let mut need = 0usize;
        // SAFETY: NULL/0 is the documented size query; it answers BUFFER_TOO_SMALL.
        let st = unsafe { sys::ffc_plan_describe(self.as_raw(), ptr::null_mut(), 0, &mut need) };
        if st != sys::FFC_ERROR_BUFFER_TOO_SMALL {
            check(st)?;
        }
        let mut buf = vec![0u8; need.max(1)];
        // SAFETY: buf holds `buf.len()` bytes.
        check(unsafe { sys::ffc_plan_describe(self.as_raw(), buf.as_mut_ptr().cast(), buf.len(), &mut need) })?;
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
    }

    /// Workspace bytes that forward and backward need for `shape`.
    pub fn workspace_size(&self, shape: &Shape) -> Result<usize> {
        let mut n = 0usize;
        // SAFETY: valid handle, shape and output pointer.
        check(unsafe { sys::ffc_plan_get_workspace_size(self.as_raw(), &shape.raw(), &mut n) })?;
        Ok(n)
    }

    /// Bytes of a precomputed filter spectrum for `shape`.
    pub fn spectrum_size(&self, shape: &Shape) -> Result<usize> {
        let mut n = 0usize;
        // SAFETY: valid handle, shape and output pointer.
        check(unsafe { sys::ffc_kernel_spectrum_get_size(self.as_raw(), &shape.raw(), &mut n) })?;
        Ok(n)
    }

    // -- host slices (CPU backend) -------------------------------------------------

    fn host_checks<T: Element>(&self, what: &str) -> Result<()> {
        if self.backend != Backend::Cpu {
            return Err(Error::new(
                Status::InvalidArgument,
                format!("{what} on host slices needs a CPU plan; use the unsafe *_raw functions with device pointers"),
            ));
        }
        if T::DTYPE != self.dtype {
            return Err(Error::new(
                Status::InvalidDtype,
                format!("the plan's dtype is {:?} but the slices hold {:?}", self.dtype, T::DTYPE),
            ));
        }
        Ok(())
    }

    fn host_workspace(&self, shape: &Shape) -> Result<Vec<u8>> {
        Ok(vec![0u8; self.workspace_size(shape)?])
    }

    /// `y = out_gate ⊙ conv(in_gate ⊙ u, k)` on host slices (CPU plans).
    ///
    /// Slice lengths must match `shape`; a workspace is allocated for the call.
    pub fn forward<T: Element>(
        &self,
        shape: &Shape,
        u: &[T],
        k: &[f32],
        in_gate: Option<&[T]>,
        out_gate: Option<&[T]>,
        y: &mut [T],
    ) -> Result<()> {
        let mut ws = self.host_workspace(shape)?;
        self.forward_with_workspace(shape, u, k, in_gate, out_gate, y, &mut ws)
    }

    /// As [`Plan::forward`], with a caller-provided host workspace
    /// (at least [`Plan::workspace_size`] bytes), to avoid an allocation per call.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_with_workspace<T: Element>(
        &self,
        shape: &Shape,
        u: &[T],
        k: &[f32],
        in_gate: Option<&[T]>,
        out_gate: Option<&[T]>,
        y: &mut [T],
        workspace: &mut [u8],
    ) -> Result<()> {
        self.host_checks::<T>("forward")?;
        let n = shape.signal_len();
        len_check("u", u.len(), n)?;
        len_check("k", k.len(), shape.kernel_elements())?;
        len_check("y", y.len(), n)?;
        if let Some(g) = in_gate {
            len_check("in_gate", g.len(), n)?;
        }
        if let Some(g) = out_gate {
            len_check("out_gate", g.len(), n)?;
        }
        // SAFETY: every slice is host memory of the length the shape implies (the
        // library also validates the shape); y is exclusively borrowed.
        unsafe {
            self.forward_raw(
                shape,
                u.as_ptr().cast(),
                k.as_ptr(),
                opt_ptr(in_gate),
                opt_ptr(out_gate),
                y.as_mut_ptr().cast(),
                workspace.as_mut_ptr().cast(),
                workspace.len(),
                ptr::null_mut(),
            )
        }
    }

    /// Gradients of [`Plan::forward`] on host slices (CPU plans). Only the
    /// outputs set in `grads` are computed. `dk` is overwritten, not accumulated.
    #[allow(clippy::too_many_arguments)]
    pub fn backward<T: Element>(
        &self,
        shape: &Shape,
        dy: &[T],
        u: &[T],
        k: &[f32],
        in_gate: Option<&[T]>,
        out_gate: Option<&[T]>,
        mut grads: Gradients<'_, T>,
    ) -> Result<()> {
        self.host_checks::<T>("backward")?;
        len_check("k", k.len(), shape.kernel_elements())?;
        backward_len_checks(shape, dy, u, in_gate, out_gate, &grads)?;
        let mut ws = self.host_workspace(shape)?;
        // SAFETY: as in forward_with_workspace; the gradient slices are exclusive borrows.
        unsafe {
            self.backward_raw(
                shape,
                dy.as_ptr().cast(),
                u.as_ptr().cast(),
                k.as_ptr(),
                opt_ptr(in_gate),
                opt_ptr(out_gate),
                opt_mut_ptr(&mut grads.du).cast(),
                opt_mut_ptr(&mut grads.dk),
                opt_mut_ptr(&mut grads.d_in_gate).cast(),
                opt_mut_ptr(&mut grads.d_out_gate).cast(),
                ws.as_mut_ptr().cast(),
                ws.len(),
                ptr::null_mut(),
            )
        }
    }

    /// Computes the spectrum of `k` (host, CPU plans) for [`Plan::forward_spectrum`]
    /// and [`Plan::backward_spectrum`].
    pub fn compute_spectrum(&self, shape: &Shape, k: &[f32]) -> Result<Spectrum> {
        if self.backend != Backend::Cpu {
            return Err(Error::new(Status::InvalidArgument, "compute_spectrum on host slices needs a CPU plan"));
        }
        len_check("k", k.len(), shape.kernel_elements())?;
        let bytes = self.spectrum_size(shape)?;
        let mut blocks = vec![Align16([0; 16]); bytes.div_ceil(16).max(1)];
        // SAFETY: blocks holds at least `bytes` bytes, 16-byte aligned.
        unsafe {
            self.compute_spectrum_raw(shape, k.as_ptr(), blocks.as_mut_ptr().cast(), bytes, ptr::null_mut())?;
        }
        Ok(Spectrum {
            blocks,
            bytes,
            plan: self.as_raw() as usize,
            channels: shape.channels,
            kernel_len: shape.kernel_len,
        })
    }

    /// [`Plan::forward`] reusing a spectrum from [`Plan::compute_spectrum`] on this plan.
    pub fn forward_spectrum<T: Element>(
        &self,
        shape: &Shape,
        u: &[T],
        spectrum: &Spectrum,
        in_gate: Option<&[T]>,
        out_gate: Option<&[T]>,
        y: &mut [T],
    ) -> Result<()> {
        self.host_checks::<T>("forward_spectrum")?;
        self.spectrum_check(shape, spectrum)?;
        let n = shape.signal_len();
        len_check("u", u.len(), n)?;
        len_check("y", y.len(), n)?;
        for (what, g) in [("in_gate", in_gate), ("out_gate", out_gate)] {
            if let Some(g) = g {
                len_check(what, g.len(), n)?;
            }
        }
        let mut ws = self.host_workspace(shape)?;
        // SAFETY: host buffers of the right lengths; the spectrum is this plan's.
        unsafe {
            self.forward_spectrum_raw(
                shape,
                u.as_ptr().cast(),
                spectrum.blocks.as_ptr().cast(),
                spectrum.bytes,
                opt_ptr(in_gate),
                opt_ptr(out_gate),
                y.as_mut_ptr().cast(),
                ws.as_mut_ptr().cast(),
                ws.len(),
                ptr::null_mut(),
            )
        }
    }

    /// Gradients of [`Plan::forward`] as [`Plan::backward`] computes them, reusing a
    /// spectrum from [`Plan::compute_spectrum`] on this plan instead of
    /// transforming k again (library 0.5; host slices, CPU plans).
    ///
    /// For a filter that several calls share, such as a training step that
    /// computes the spectrum once for its forward and its backward. Only the
    /// outputs set in `grads` are computed; `dk` is still computed (it does not
    /// depend on k) and overwritten, not accumulated. The results are bitwise
    /// those of [`Plan::backward`] with the k the spectrum was computed from.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_spectrum<T: Element>(
        &self,
        shape: &Shape,
        dy: &[T],
        u: &[T],
        spectrum: &Spectrum,
        in_gate: Option<&[T]>,
        out_gate: Option<&[T]>,
        mut grads: Gradients<'_, T>,
    ) -> Result<()> {
        self.host_checks::<T>("backward_spectrum")?;
        self.spectrum_check(shape, spectrum)?;
        backward_len_checks(shape, dy, u, in_gate, out_gate, &grads)?;
        let mut ws = self.host_workspace(shape)?;
        // SAFETY: host buffers of the right lengths; the spectrum is this plan's;
        // the gradient slices are exclusive borrows.
        unsafe {
            self.backward_spectrum_raw(
                shape,
                dy.as_ptr().cast(),
                u.as_ptr().cast(),
                spectrum.blocks.as_ptr().cast(),
                spectrum.bytes,
                opt_ptr(in_gate),
                opt_ptr(out_gate),
                opt_mut_ptr(&mut grads.du).cast(),
                opt_mut_ptr(&mut grads.dk),
                opt_mut_ptr(&mut grads.d_in_gate).cast(),
                opt_mut_ptr(&mut grads.d_out_gate).cast(),
                ws.as_mut_ptr().cast(),
                ws.len(),
                ptr::null_mut(),
            )
        }
    }

    // The layout of a spectrum is internal to the plan: one from another plan or
    // for another (H, K) would be silently wrong, so the safe calls refuse it.
    fn spectrum_check(&self, shape: &Shape, spectrum: &Spectrum) -> Result<()> {
        if spectrum.plan != self.as_raw() as usize
            || spectrum.channels != shape.channels
            || spectrum.kernel_len != shape.kernel_len
        {
            return Err(Error::new(
                Status::InvalidArgument,
                "the spectrum was computed by another plan or for another (channels, kernel_len)",
            ));
        }
        Ok(())
    }

    // -- raw pointers (either backend; the CUDA path) --------------------------------

    /// `ffc_conv_forward` on raw pointers: device pointers and a CUDA stream for a
    /// CUDA plan (asynchronous: returns once the work is enqueued), host pointers
    /// for a CPU plan. Gates may be null.
    ///
    /// # Safety
    /// Every non-null pointer must address memory of the size `shape` implies, of
    /// the plan's dtype (k: f32), reachable by the plan's backend, and stay valid
    /// (and, for outputs, unaliased except y == u) until the work completes on
    /// `stream`; `workspace` must hold `workspace_size` bytes.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn forward_raw(
        &self,
        shape: &Shape,
        u: *const c_void,
        k: *const f32,
        in_gate: *const c_void,
        out_gate: *const c_void,
        y: *mut c_void,
        workspace: *mut c_void,
        workspace_size: usize,
        stream: sys::ffc_stream_t,
    ) -> Result<()> {
        check(sys::ffc_conv_forward(
            self.as_raw(),
            &shape.raw(),
            u,
            k,
            in_gate,
            out_gate,
            y,
            workspace,
            workspace_size,
            stream,
        ))
    }

    /// `ffc_conv_backward` on raw pointers; null gradient pointers are not computed.
    ///
    /// # Safety
    /// As [`Plan::forward_raw`].
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn backward_raw(
        &self,
        shape: &Shape,
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
        stream: sys::ffc_stream_t,
    ) -> Result<()> {
        check(sys::ffc_conv_backward(
            self.as_raw(),
            &shape.raw(),
            dy,
            u,
            k,
            in_gate,
            out_gate,
            du,
            dk,
            d_in_gate,
            d_out_gate,
            workspace,
            workspace_size,
            stream,
        ))
    }

    /// `ffc_kernel_spectrum_compute` on raw pointers.
    ///
    /// # Safety
    /// As [`Plan::forward_raw`]; `spectrum` must be 16-byte aligned and hold `spectrum_size` bytes.
    pub unsafe fn compute_spectrum_raw(
        &self,
        shape: &Shape,
        k: *const f32,
        spectrum: *mut c_void,
        spectrum_size: usize,
        stream: sys::ffc_stream_t,
    ) -> Result<()> {
        check(sys::ffc_kernel_spectrum_compute(self.as_raw(), &shape.raw(), k, spectrum, spectrum_size, stream))
    }

    /// `ffc_conv_forward_spectrum` on raw pointers.
    ///
    /// # Safety
    /// As [`Plan::forward_raw`]; `spectrum` must come from this plan for the same H and K.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn forward_spectrum_raw(
        &self,
        shape: &Shape,
        u: *const c_void,
        spectrum: *const c_void,
        spectrum_size: usize,
        in_gate: *const c_void,
        out_gate: *const c_void,
        y: *mut c_void,
        workspace: *mut c_void,
        workspace_size: usize,
        stream: sys::ffc_stream_t,
    ) -> Result<()> {
        check(sys::ffc_conv_forward_spectrum(
            self.as_raw(),
            &shape.raw(),
            u,
            spectrum,
            spectrum_size,
            in_gate,
            out_gate,
            y,
            workspace,
            workspace_size,
            stream,
        ))
    }

    /// `ffc_conv_backward_spectrum` on raw pointers (library 0.5):
    /// [`Plan::backward_raw`] with k replaced by a spectrum from
    /// [`Plan::compute_spectrum_raw`]; null gradient pointers are not computed,
    /// dk is still computed. A `spectrum_size` below [`Plan::spectrum_size`] is
    /// `BufferTooSmall`; an output or the workspace overlapping the spectrum is
    /// `InvalidArgument`. The results are bitwise those of [`Plan::backward_raw`]
    /// with the k the spectrum was computed from.
    ///
    /// # Safety
    /// As [`Plan::forward_raw`]; `spectrum` must come from this plan for the same H and K.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn backward_spectrum_raw(
        &self,
        shape: &Shape,
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
        stream: sys::ffc_stream_t,
    ) -> Result<()> {
        check(sys::ffc_conv_backward_spectrum(
            self.as_raw(),
            &shape.raw(),
            dy,
            u,
            spectrum,
            spectrum_size,
            in_gate,
            out_gate,
            du,
            dk,
            d_in_gate,
            d_out_gate,
            workspace,
            workspace_size,
            stream,
        ))
    }
}

// =====================================================================================
// Short depthwise convolution (ffc_conv1d_*)
// =====================================================================================

/// Memory layout of a short convolution's (batch, channels, length) tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// (B, H, L): each channel's sequence contiguous (PyTorch's Conv1d layout).
    Bhl,
    /// (B, L, H): channels innermost (a sequence model's activations).
    Blh,
}

impl Layout {
    fn raw(self) -> sys::ffc_layout_t {
        match self {
            Layout::Bhl => sys::FFC_LAYOUT_BHL,
            Layout::Blh => sys::FFC_LAYOUT_BLH,
        }
    }
}

/// Builder for a short-convolution descriptor (`ffc_conv1d_desc_t`, from
/// `FFC_CONV1D_DESC_INIT`): PyTorch's `nn.Conv1d(H, H, K, groups=H)`, one filter
/// of K taps per channel, computed directly (a cross-correlation):
///
/// ```text
/// y[b,h,t] = bias[h] + Σ_{j<K} w[h,j]·x[b,h,t + j − padding_left],   0 ≤ t < L_out
/// L_out    = L + padding_left + padding_right − K + 1
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1dDesc {
    raw: sys::ffc_conv1d_desc_t,
}

impl Conv1dDesc {
    /// K taps (1 ≤ K ≤ 128), causal padding (K − 1, 0), fp16, (B, H, L), automatic
    /// backend, current device: `FFC_CONV1D_DESC_INIT` with K set.
    pub fn new(kernel_size: i32) -> Conv1dDesc {
        let mut raw = sys::ffc_conv1d_desc_t::init();
        raw.kernel_size = kernel_size;
        raw.padding_left = kernel_size - 1;
        raw.padding_right = 0;
        Conv1dDesc { raw }
    }
    /// Element type of x, y, dy and dx (weights and bias are always f32).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.raw.dtype = dtype.raw();
        self
    }
    /// Backend. `Auto` is resolved by [`Conv1dPlan::new`] as the library resolves
    /// it (CUDA if [`Backend::available`], else CPU).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.raw.backend = backend.raw();
        self
    }
    /// CUDA device ordinal (−1: the current device).
    pub fn device(mut self, device: i32) -> Self {
        self.raw.device = device;
        self
    }
    /// Layout of x, y, dy and dx.
    pub fn layout(mut self, layout: Layout) -> Self {
        self.raw.layout = layout.raw();
        self
    }
    /// Zeros before and after x; each side at most K − 1 (checked by the library).
    pub fn padding(mut self, left: i32, right: i32) -> Self {
        self.raw.padding_left = left;
        self.raw.padding_right = right;
        self
    }
    /// Causal padding (K − 1, 0): `y[t]` depends on `x[t − K + 1 ..= t]` and L_out = L.
    pub fn causal(self) -> Self {
        let k = self.raw.kernel_size;
        self.padding(k - 1, 0)
    }
    /// PyTorch's `padding="same"`: L_out = L, the odd zero of an even K on the right.
    pub fn same(self) -> Self {
        let total = self.raw.kernel_size - 1;
        self.padding(total / 2, total - total / 2)
    }
    /// CPU backend worker threads (0: hardware concurrency, at most 16).
    pub fn cpu_threads(mut self, threads: i32) -> Self {
        self.raw.cpu_threads = threads;
        self
    }
    /// The C descriptor.
    pub fn as_raw(&self) -> &sys::ffc_conv1d_desc_t {
        &self.raw
    }
}

/// Shape of one short-convolution call: x and dx hold B·H·L elements, y and dy
/// B·H·L_out, in the plan's layout; weight (and dweight) is (H, K), bias (H).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv1dShape {
    pub batch: i64,
    pub channels: i64,
    pub seq_len: i64,
}

impl Conv1dShape {
    pub fn new(batch: i64, channels: i64, seq_len: i64) -> Conv1dShape {
        Conv1dShape { batch, channels, seq_len }
    }

    /// B·H·L: elements of x and dx (0 for a negative dimension).
    pub fn input_len(&self) -> usize {
        [self.batch, self.channels, self.seq_len].iter().map(|&d| d.max(0) as usize).product()
    }

    fn raw(&self) -> sys::ffc_conv1d_shape_t {
        sys::ffc_conv1d_shape_t { batch: self.batch, channels: self.channels, seq_len: self.seq_len }
    }
}

/// Optional outputs of [`Conv1dPlan::backward`]; `None` means "not wanted" and the
/// library skips the work that only feeds it.
#[derive(Debug, Default)]
pub struct Conv1dGradients<'a, T> {
    /// Like x.
    pub dx: Option<&'a mut [T]>,
    /// (H, K), overwritten; reduced in a fixed order (identical bits on every run).
    pub dweight: Option<&'a mut [f32]>,
    /// (H), overwritten; deterministic like dweight.
    pub dbias: Option<&'a mut [f32]>,
}

/// An owned short depthwise convolution plan (`ffc_conv1d_plan_t`). Dropping it
/// calls `ffc_conv1d_plan_destroy`. Immutable and `Send + Sync`, like [`Plan`].
///
/// ```no_run
/// use flashfftconv::{Backend, Conv1dDesc, Conv1dGradients, Conv1dPlan, Conv1dShape, DType, Layout};
/// // nn.Conv1d(8, 8, 4, groups=8) with causal padding, on (B, L, H) activations.
/// let desc = Conv1dDesc::new(4).dtype(DType::F32).backend(Backend::Cpu).layout(Layout::Blh).causal();
/// let plan = Conv1dPlan::new(&desc)?;
/// let shape = Conv1dShape::new(2, 8, 100);
/// let x = vec![1f32; shape.input_len()];
/// let (w, b) = (vec![0.25f32; 8 * 4], vec![0f32; 8]);
/// let mut y = vec![0f32; plan.output_elements(&shape)?];
/// plan.forward(&shape, &x, &w, Some(&b), &mut y)?;
/// let mut dw = vec![0f32; 8 * 4];
/// plan.backward(&shape, &y, &x, &w, Conv1dGradients { dweight: Some(&mut dw), ..Default::default() })?;
/// # Ok::<(), flashfftconv::Error>(())
/// ```
pub struct Conv1dPlan {
    raw: NonNull<sys::ffc_conv1d_plan_s>,
    desc: sys::ffc_conv1d_desc_t,
}

// SAFETY: as for Plan: the C API documents concurrent execute calls on one plan as
// safe; destruction needs exclusive ownership, which Drop has.
unsafe impl Send for Conv1dPlan {}
unsafe impl Sync for Conv1dPlan {}

impl Drop for Conv1dPlan {
    fn drop(&mut self) {
        // SAFETY: we own the handle and nothing else can use it any more.
        unsafe { sys::ffc_conv1d_plan_destroy(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Conv1dPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conv1dPlan")
            .field("dtype", &self.dtype())
            .field("backend", &self.backend())
            .field("layout", &self.layout())
            .field("kernel_size", &self.kernel_size())
            .field("padding", &self.padding())
            .finish()
    }
}

impl Conv1dPlan {
    /// Creates a plan. The plan keeps the descriptor as the library resolved it
    /// (`ffc_conv1d_plan_get_desc`: the backend never `Auto`, the device ordinal),
    /// so that it knows which memory it takes.
    pub fn new(desc: &Conv1dDesc) -> Result<Conv1dPlan> {
        let mut raw: sys::ffc_conv1d_plan_t = ptr::null_mut();
        // SAFETY: both pointers are valid for the call; the descriptor is fully initialised.
        check(unsafe { sys::ffc_conv1d_plan_create(&mut raw, &desc.raw) })?;
        let raw =
            NonNull::new(raw).ok_or_else(|| Error::new(Status::Internal, "ffc_conv1d_plan_create returned NULL"))?;
        // From here on Drop destroys the handle, whatever happens next.
        let mut plan = Conv1dPlan { raw, desc: desc.raw };
        let mut resolved = desc.raw;
        // SAFETY: the handle is live and `resolved` is a valid, initialised descriptor.
        check(unsafe { sys::ffc_conv1d_plan_get_desc(plan.raw.as_ptr(), &mut resolved) })?;
        plan.desc = resolved;
        Ok(plan)
    }

    /// The raw handle (still owned by `self`).
    pub fn as_raw(&self) -> sys::ffc_conv1d_plan_t {
        self.raw.as_ptr()
    }

    /// Gives up ownership; the caller must eventually call `ffc_conv1d_plan_destroy`.
    pub fn into_raw(self) -> sys::ffc_conv1d_plan_t {
        let raw = self.raw.as_ptr();
        core::mem::forget(self);
        raw
    }

    /// The plan's I/O dtype.
    pub fn dtype(&self) -> DType {
        DType::from_raw(self.desc.dtype)
    }

    /// The resolved backend (never `Auto`).
    pub fn backend(&self) -> Backend {
        Backend::from_raw(self.desc.backend)
    }

    /// The CUDA device ordinal the plan runs on (−1 on the CPU backend).
    pub fn device(&self) -> i32 {
        self.desc.device
    }

    /// The layout of x, y, dy and dx.
    pub fn layout(&self) -> Layout {
        if self.desc.layout == sys::FFC_LAYOUT_BLH {
            Layout::Blh
        } else {
            Layout::Bhl
        }
    }

    /// K.
    pub fn kernel_size(&self) -> i32 {
        self.desc.kernel_size
    }

    /// (padding_left, padding_right).
    pub fn padding(&self) -> (i32, i32) {
        (self.desc.padding_left, self.desc.padding_right)
    }

    /// L_out = L + padding_left + padding_right − K + 1 (`InvalidShape` when L < 1 or L_out < 1).
    pub fn output_length(&self, seq_len: i64) -> Result<i64> {
        let mut n = 0i64;
        // SAFETY: valid handle and output pointer.
        check(unsafe { sys::ffc_conv1d_output_length(self.as_raw(), seq_len, &mut n) })?;
        Ok(n)
    }

    /// Workspace bytes that forward and backward need for `shape` (may be 0).
    pub fn workspace_size(&self, shape: &Conv1dShape) -> Result<usize> {
        let mut n = 0usize;
        // SAFETY: valid handle, shape and output pointer.
        check(unsafe { sys::ffc_conv1d_get_workspace_size(self.as_raw(), &shape.raw(), &mut n) })?;
        Ok(n)
    }

    /// B·H·L_out: elements of y and dy for `shape` (the library validates the shape).
    pub fn output_elements(&self, shape: &Conv1dShape) -> Result<usize> {
        let l_out = self.output_length(shape.seq_len)?;
        Ok(shape.batch.max(0) as usize * shape.channels.max(0) as usize * l_out as usize)
    }

    fn weight_elements(&self, shape: &Conv1dShape) -> usize {
        shape.channels.max(0) as usize * self.desc.kernel_size.max(0) as usize
    }

    fn host_checks<T: Element>(&self, what: &str) -> Result<()> {
        if self.backend() != Backend::Cpu {
            return Err(Error::new(
                Status::InvalidArgument,
                format!("{what} on host slices needs a CPU plan; use the unsafe *_raw functions with device pointers"),
            ));
        }
        if T::DTYPE != self.dtype() {
            return Err(Error::new(
                Status::InvalidDtype,
                format!("the plan's dtype is {:?} but the slices hold {:?}", self.dtype(), T::DTYPE),
            ));
        }
        Ok(())
    }

    /// `y = bias + depthwise cross-correlation of x with weight` on host slices
    /// (CPU plans): x B·H·L elements, weight H·K, bias H, y B·H·L_out, in the
    /// plan's layout.
    pub fn forward<T: Element>(
        &self,
        shape: &Conv1dShape,
        x: &[T],
        weight: &[f32],
        bias: Option<&[f32]>,
        y: &mut [T],
    ) -> Result<()> {
        self.host_checks::<T>("forward")?;
        let n_out = self.output_elements(shape)?;
        len_check("x", x.len(), shape.input_len())?;
        len_check("weight", weight.len(), self.weight_elements(shape))?;
        if let Some(b) = bias {
            len_check("bias", b.len(), shape.channels.max(0) as usize)?;
        }
        len_check("y", y.len(), n_out)?;
        let mut ws = vec![0u8; self.workspace_size(shape)?];
        let ws_ptr = if ws.is_empty() { ptr::null_mut() } else { ws.as_mut_ptr().cast() };
        // SAFETY: host slices of the lengths the shape implies; y is exclusively
        // borrowed, so it cannot overlap the inputs.
        unsafe {
            self.forward_raw(
                shape,
                x.as_ptr().cast(),
                weight.as_ptr(),
                bias.map_or(ptr::null(), |b| b.as_ptr()),
                y.as_mut_ptr().cast(),
                ws_ptr,
                ws.len(),
                ptr::null_mut(),
            )
        }
    }

    /// Gradients of [`Conv1dPlan::forward`] on host slices (CPU plans). Only the
    /// outputs set in `grads` are computed.
    pub fn backward<T: Element>(
        &self,
        shape: &Conv1dShape,
        dy: &[T],
        x: &[T],
        weight: &[f32],
        mut grads: Conv1dGradients<'_, T>,
    ) -> Result<()> {
        self.host_checks::<T>("backward")?;
        let n_out = self.output_elements(shape)?;
        len_check("dy", dy.len(), n_out)?;
        len_check("x", x.len(), shape.input_len())?;
        len_check("weight", weight.len(), self.weight_elements(shape))?;
        if let Some(g) = &grads.dx {
            len_check("dx", g.len(), shape.input_len())?;
        }
        if let Some(g) = &grads.dweight {
            len_check("dweight", g.len(), self.weight_elements(shape))?;
        }
        if let Some(g) = &grads.dbias {
            len_check("dbias", g.len(), shape.channels.max(0) as usize)?;
        }
        let mut ws = vec![0u8; self.workspace_size(shape)?];
        let ws_ptr = if ws.is_empty() { ptr::null_mut() } else { ws.as_mut_ptr().cast() };
        // SAFETY: as in forward; the gradient slices are exclusive borrows.
        unsafe {
            self.backward_raw(
                shape,
                dy.as_ptr().cast(),
                x.as_ptr().cast(),
                weight.as_ptr(),
                opt_mut_ptr(&mut grads.dx).cast(),
                opt_mut_ptr(&mut grads.dweight),
                opt_mut_ptr(&mut grads.dbias),
                ws_ptr,
                ws.len(),
                ptr::null_mut(),
            )
        }
    }

    /// `ffc_conv1d_forward` on raw pointers: device pointers and a CUDA stream for
    /// a CUDA plan (asynchronous: returns once the work is enqueued), host pointers
    /// for a CPU plan. `bias` may be null.
    ///
    /// # Safety
    /// Every non-null pointer must address memory of the size `shape` implies, of
    /// the plan's dtype (weight, bias: f32), reachable by the plan's backend, and
    /// stay valid (y unaliased) until the work completes on `stream`;
    /// `workspace` must hold `workspace_size` bytes.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn forward_raw(
        &self,
        shape: &Conv1dShape,
        x: *const c_void,
        weight: *const f32,
        bias: *const f32,
        y: *mut c_void,
        workspace: *mut c_void,
        workspace_size: usize,
        stream: sys::ffc_stream_t,
    ) -> Result<()> {
        check(sys::ffc_conv1d_forward(
            self.as_raw(),
            &shape.raw(),
            x,
            weight,
            bias,
            y,
            workspace,
            workspace_size,
            stream,
        ))
    }

    /// `ffc_conv1d_backward` on raw pointers; null gradient pointers are not
    /// computed (x may be null without dweight, weight without dx).
    ///
    /// # Safety
    /// As [`Conv1dPlan::forward_raw`].
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn backward_raw(
        &self,
        shape: &Conv1dShape,
        dy: *const c_void,
        x: *const c_void,
        weight: *const f32,
        dx: *mut c_void,
        dweight: *mut f32,
        dbias: *mut f32,
        workspace: *mut c_void,
        workspace_size: usize,
        stream: sys::ffc_stream_t,
    ) -> Result<()> {
        check(sys::ffc_conv1d_backward(
            self.as_raw(),
            &shape.raw(),
            dy,
            x,
            weight,
            dx,
            dweight,
            dbias,
            workspace,
            workspace_size,
            stream,
        ))
    }
}
