//! CPU-backend tests: forward and backward against a direct convolution in f64,
//! the precision rule for 16-bit dtypes, error mapping, and Drop.
use flashfftconv::{Backend, Bf16, DType, Element, Error, Gradients, Plan, PlanDesc, Shape, Spectrum, Status, F16};
use std::sync::Arc;

// -- reference ---------------------------------------------------------------------------

/// Deterministic pseudo-random numbers (xorshift + Box-Muller): no crates.
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (a, b) = (self.uniform(), self.uniform());
        (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
    }
    fn vec(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| self.normal() * scale).collect()
    }
}

/// (du, dk, d_in_gate, d_out_gate) of the reference.
type RefGrads = (Vec<f64>, Vec<f64>, Option<Vec<f64>>, Option<Vec<f64>>);

struct Problem {
    shape: Shape,
    n: usize,
    u: Vec<f64>,
    k: Vec<f64>,
    ig: Option<Vec<f64>>,
    og: Option<Vec<f64>>,
}

impl Problem {
    fn new(b: i64, h: i64, l: i64, kl: i64, n: usize, gates: bool, seed: u64) -> Problem {
        let shape = Shape::new(b, h, l, kl);
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let m = shape.signal_len();
        Problem {
            shape,
            n,
            u: r.vec(m, 1.0),
            k: r.vec(shape.kernel_elements(), 1.0 / (kl as f64).sqrt()),
            ig: gates.then(|| r.vec(m, 1.0)),
            og: gates.then(|| r.vec(m, 1.0)),
        }
    }

    /// Rounds the operands to T (the reference then uses the rounded values).
    fn round<T: Conv>(&mut self) {
        for v in [Some(&mut self.u), self.ig.as_mut(), self.og.as_mut()].into_iter().flatten() {
            for x in v.iter_mut() {
                *x = T::from_f64(*x).to_f64();
            }
        }
        for x in self.k.iter_mut() {
            *x = *x as f32 as f64;
        }
    }

    /// The operands as the library takes them: u and the gates in T, k in f32.
    fn operands<T: Conv>(&self) -> Operands<T> {
        Operands { u: to(&self.u), k: to(&self.k), ig: self.ig.as_deref().map(to), og: self.og.as_deref().map(to) }
    }

    fn dims(&self) -> (usize, usize, usize, usize) {
        let s = self.shape;
        (s.batch as usize, s.channels as usize, s.seq_len as usize, s.kernel_len as usize)
    }

    fn v(&self) -> Vec<f64> {
        match &self.ig {
            Some(g) => self.u.iter().zip(g).map(|(a, b)| a * b).collect(),
            None => self.u.clone(),
        }
    }

    /// z[b,h,t] = Σ_s k[h,s] x[b,h,(t − s) mod N] for t < L: the direct definition.
    fn conv(&self, x: &[f64]) -> Vec<f64> {
        let (b, h, l, kl) = self.dims();
        let mut z = vec![0.0; x.len()];
        for bh in 0..b * h {
            let c = bh % h;
            for t in 0..l {
                let mut acc = 0.0;
                for s in 0..kl {
                    let idx = (t + self.n - s % self.n) % self.n;
                    if idx < l {
                        acc += self.k[c * kl + s] * x[bh * l + idx];
                    }
                }
                z[bh * l + t] = acc;
            }
        }
        z
    }

    fn forward(&self) -> Vec<f64> {
        let z = self.conv(&self.v());
        match &self.og {
            Some(g) => z.iter().zip(g).map(|(a, b)| a * b).collect(),
            None => z,
        }
    }

    /// (du, dk, d_in_gate, d_out_gate) by the definitions in DESIGN §1, directly.
    fn backward(&self, dy: &[f64]) -> RefGrads {
        let (b, h, l, kl) = self.dims();
        let n = self.n;
        let v = self.v();
        let z = self.conv(&v);
        let dz: Vec<f64> = match &self.og {
            Some(g) => dy.iter().zip(g).map(|(a, b)| a * b).collect(),
            None => dy.to_vec(),
        };
        let mut dv = vec![0.0; v.len()];
        let mut dk = vec![0.0; h * kl];
        for bh in 0..b * h {
            let c = bh % h;
            for t in 0..l {
                for s in 0..kl {
                    let idx = (t + n - s % n) % n; // z[t] += k[s] v[idx]
                    if idx < l {
                        dv[bh * l + idx] += dz[bh * l + t] * self.k[c * kl + s];
                        dk[c * kl + s] += dz[bh * l + t] * v[bh * l + idx];
                    }
                }
            }
        }
        let du = match &self.ig {
            Some(g) => dv.iter().zip(g).map(|(a, b)| a * b).collect(),
            None => dv.clone(),
        };
        let dig = self.ig.as_ref().map(|_| dv.iter().zip(&self.u).map(|(a, b)| a * b).collect());
        let dog = self.og.as_ref().map(|_| dy.iter().zip(&z).map(|(a, b)| a * b).collect());
        (du, dk, dig, dog)
    }
}

/// A problem's operands converted for a plan (see Problem::operands).
struct Operands<T> {
    u: Vec<T>,
    k: Vec<f32>,
    ig: Option<Vec<T>>,
    og: Option<Vec<T>>,
}

trait Conv: Element + Default {
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    /// The bit pattern, for bitwise comparisons.
    fn bits(self) -> u32;
}
impl Conv for f32 {
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn bits(self) -> u32 {
        self.to_bits()
    }
}
impl Conv for F16 {
    fn from_f64(x: f64) -> Self {
        F16::from_f32(x as f32) // f64 -> f32 -> f16 double rounding is harmless for test data
    }
    fn to_f64(self) -> f64 {
        self.to_f32() as f64
    }
    fn bits(self) -> u32 {
        self.to_bits().into()
    }
}
impl Conv for Bf16 {
    fn from_f64(x: f64) -> Self {
        Bf16::from_f32(x as f32)
    }
    fn to_f64(self) -> f64 {
        self.to_f32() as f64
    }
    fn bits(self) -> u32 {
        self.to_bits().into()
    }
}

fn to<T: Conv>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}
fn back<T: Conv>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&x| x.to_f64()).collect()
}

fn rel_l2(x: &[f64], r: &[f64]) -> f64 {
    let num: f64 = x.iter().zip(r).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = r.iter().map(|b| b * b).sum();
    (num / den.max(1e-300)).sqrt()
}

/// DESIGN §3: 2 × the rel-L2 error of rounding the exact result to T. For f32
/// that is below what any fp32 FFT reaches, so f32 gets a floor of 2e-6.
fn tolerance<T: Conv>(r: &[f64]) -> f64 {
    let rounded: Vec<f64> = r.iter().map(|&x| T::from_f64(x).to_f64()).collect();
    let tol = 2.0 * rel_l2(&rounded, r);
    if T::DTYPE == DType::F32 {
        tol.max(2e-6)
    } else {
        tol
    }
}

fn cpu_desc(n: u64, dtype: DType) -> PlanDesc {
    PlanDesc::new(n).dtype(dtype).backend(Backend::Cpu).cpu_threads(2)
}

fn cpu_plan(n: u64, dtype: DType) -> Plan {
    Plan::new(&cpu_desc(n, dtype)).expect("plan")
}

// -- checks of one problem on one plan (shared by plain and partial plans) ----------------

/// Rounds `p` to T, runs `plan.forward` and holds y to the precision rule against
/// the f64 reference; `what` names the case in a failure.
fn check_forward<T: Conv>(plan: &Plan, p: &mut Problem, what: &str) {
    p.round::<T>();
    let x = p.operands::<T>();
    let mut y = vec![T::default(); p.shape.signal_len()];
    plan.forward(&p.shape, &x.u, &x.k, x.ig.as_deref(), x.og.as_deref(), &mut y).unwrap();
    let r = p.forward();
    let (err, tol) = (rel_l2(&back(&y), &r), tolerance::<T>(&r));
    assert!(err <= tol, "{what}: err {err:.3e} > tol {tol:.3e}");
}

/// What check_backward ran on and got, for further checks on the same call.
struct BackwardRun<T> {
    x: Operands<T>,
    dy: Vec<T>,
    dk: Vec<f32>,
}

/// Rounds `p` (with both gates) to T, runs `plan.backward` for all four gradients
/// with dy drawn from Rng(dy_seed), and holds each to the precision rule against the
/// f64 reference: dk (f32) to f32's, the others to T's.
fn check_backward<T: Conv>(plan: &Plan, p: &mut Problem, dy_seed: u64, what: &str) -> BackwardRun<T> {
    p.round::<T>();
    let mut r = Rng(dy_seed);
    let dy64: Vec<f64> = r.vec(p.shape.signal_len(), 1.0).iter().map(|&x| T::from_f64(x).to_f64()).collect();
    let x = p.operands::<T>();
    let dy: Vec<T> = to(&dy64);
    let (ig, og) = (x.ig.as_deref().expect("in_gate"), x.og.as_deref().expect("out_gate"));
    let m = p.shape.signal_len();
    let (mut du, mut dig, mut dog) = (vec![T::default(); m], vec![T::default(); m], vec![T::default(); m]);
    let mut dk = vec![0f32; p.shape.kernel_elements()];
    plan.backward(
        &p.shape,
        &dy,
        &x.u,
        &x.k,
        Some(ig),
        Some(og),
        Gradients { du: Some(&mut du), dk: Some(&mut dk), d_in_gate: Some(&mut dig), d_out_gate: Some(&mut dog) },
    )
    .unwrap();
    let (rdu, rdk, rdig, rdog) = p.backward(&dy64);
    let dk64: Vec<f64> = dk.iter().map(|&x| x as f64).collect();
    for (name, got, want, tol) in [
        ("du", back(&du), rdu.clone(), tolerance::<T>(&rdu)),
        ("dk", dk64, rdk.clone(), tolerance::<f32>(&rdk)),
        ("d_in_gate", back(&dig), rdig.clone().unwrap(), tolerance::<T>(rdig.as_ref().unwrap())),
        ("d_out_gate", back(&dog), rdog.clone().unwrap(), tolerance::<T>(rdog.as_ref().unwrap())),
    ] {
        let err = rel_l2(&got, &want);
        assert!(err <= tol, "{what} {name}: err {err:.3e} > tol {tol:.3e}");
    }
    BackwardRun { x, dy, dk }
}

/// y from `plan.compute_spectrum` then `plan.forward_spectrum` on f32 operands with
/// both gates; the spectrum is returned too.
fn forward_with_spectrum(plan: &Plan, p: &Problem) -> (Vec<f32>, Spectrum) {
    let x = p.operands::<f32>();
    let spec = plan.compute_spectrum(&p.shape, &x.k).unwrap();
    let mut y = vec![0f32; p.shape.signal_len()];
    plan.forward_spectrum(&p.shape, &x.u, &spec, x.ig.as_deref(), x.og.as_deref(), &mut y).unwrap();
    (y, spec)
}

// -- forward / backward ------------------------------------------------------------------

fn run_forward<T: Conv>(dtype: DType, gates: bool) {
    // (B, H, L, K, N): causal (N >= L + K - 1) with odd B, and circular (L = N)
    for &(b, h, l, kl, n) in &[(3i64, 2i64, 100i64, 100i64, 256usize), (2, 3, 256, 40, 256), (1, 2, 300, 77, 512)] {
        let mut p = Problem::new(b, h, l, kl, n, gates, (b * 7 + l) as u64);
        let what = format!("{dtype:?} gates={gates} B={b} L={l} K={kl} N={n}");
        check_forward::<T>(&cpu_plan(n as u64, dtype), &mut p, &what);
    }
}

#[test]
fn forward_f32() {
    run_forward::<f32>(DType::F32, false);
    run_forward::<f32>(DType::F32, true);
}

#[test]
fn forward_f16() {
    run_forward::<F16>(DType::F16, false);
    run_forward::<F16>(DType::F16, true);
}

#[test]
fn forward_bf16() {
    run_forward::<Bf16>(DType::Bf16, false);
    run_forward::<Bf16>(DType::Bf16, true);
}

fn run_backward<T: Conv>(dtype: DType) {
    let mut p = Problem::new(3, 2, 120, 120, 256, true, 11);
    check_backward::<T>(&cpu_plan(256, dtype), &mut p, 99, &format!("{dtype:?}"));
}

#[test]
fn backward_f32() {
    run_backward::<f32>(DType::F32);
}

#[test]
fn backward_f16() {
    run_backward::<F16>(DType::F16);
}

#[test]
fn backward_bf16() {
    run_backward::<Bf16>(DType::Bf16);
}

#[test]
fn backward_only_dk_without_gates() {
    let p = Problem::new(2, 2, 64, 30, 256, false, 5);
    let plan = cpu_plan(256, DType::F32);
    let u: Vec<f32> = to(&p.u);
    let k: Vec<f32> = to(&p.k);
    let dy = vec![1.0f32; p.shape.signal_len()];
    let mut dk = vec![0f32; p.shape.kernel_elements()];
    plan.backward(&p.shape, &dy, &u, &k, None, None, Gradients { dk: Some(&mut dk), ..Default::default() }).unwrap();
    let (_, rdk, _, _) = p.backward(&vec![1.0; p.shape.signal_len()]);
    assert!(rel_l2(&back(&dk), &rdk) < 2e-6);
}

#[test]
fn spectrum_reuse_matches_forward() {
    let p = Problem::new(2, 3, 100, 100, 256, true, 21);
    let plan = cpu_plan(256, DType::F32);
    let (mut y, spec) = forward_with_spectrum(&plan, &p);
    assert!(!spec.is_empty());
    assert!(rel_l2(&back(&y), &p.forward()) < 2e-6);
    // A spectrum belongs to its plan.
    let other = cpu_plan(256, DType::F32);
    let u: Vec<f32> = to(&p.u);
    let e = other.forward_spectrum(&p.shape, &u, &spec, None, None, &mut y).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
}

// -- backward with a precomputed spectrum (library 0.5) ------------------------------------

const GRAD_NAMES: [&str; 4] = ["du", "dk", "d_in_gate", "d_out_gate"];

/// Output buffers of one backward call, each present when wanted (in GRAD_NAMES
/// order) and filled with `fill`, so that a gradient left unwritten cannot pass.
struct Outs<T> {
    du: Option<Vec<T>>,
    dk: Option<Vec<f32>>,
    dig: Option<Vec<T>>,
    dog: Option<Vec<T>>,
}

impl<T: Conv> Outs<T> {
    fn new(shape: &Shape, want: [bool; 4], fill: f64) -> Outs<T> {
        let m = shape.signal_len();
        let v = |w: bool| w.then(|| vec![T::from_f64(fill); m]);
        Outs {
            du: v(want[0]),
            dk: want[1].then(|| vec![fill as f32; shape.kernel_elements()]),
            dig: v(want[2]),
            dog: v(want[3]),
        }
    }

    fn grads(&mut self) -> Gradients<'_, T> {
        Gradients {
            du: self.du.as_deref_mut(),
            dk: self.dk.as_deref_mut(),
            d_in_gate: self.dig.as_deref_mut(),
            d_out_gate: self.dog.as_deref_mut(),
        }
    }

    fn bits(&self) -> [Option<Vec<u32>>; 4] {
        let b = |v: &Option<Vec<T>>| v.as_ref().map(|v| v.iter().map(|&x| x.bits()).collect());
        [b(&self.du), self.dk.as_ref().map(|v| v.iter().map(|x| x.to_bits()).collect()), b(&self.dig), b(&self.dog)]
    }
}

/// `plan.backward_spectrum` against `plan.backward` with the k the spectrum came
/// from, bit for bit: every gradient the gates allow at once, then each alone.
fn check_backward_spectrum<T: Conv>(plan: &Plan, p: &mut Problem, dy_seed: u64, what: &str) {
    p.round::<T>();
    let x = p.operands::<T>();
    let dy: Vec<T> = to(&Rng(dy_seed).vec(p.shape.signal_len(), 1.0));
    let (ig, og) = (x.ig.as_deref(), x.og.as_deref());
    let want = [true, true, ig.is_some(), og.is_some()];
    let spec = plan.compute_spectrum(&p.shape, &x.k).unwrap();
    assert_eq!(spec.len(), plan.spectrum_size(&p.shape).unwrap());
    let mut with_k = Outs::<T>::new(&p.shape, want, 1.5);
    plan.backward(&p.shape, &dy, &x.u, &x.k, ig, og, with_k.grads()).unwrap();
    let mut full = Outs::<T>::new(&p.shape, want, -2.5);
    plan.backward_spectrum(&p.shape, &dy, &x.u, &spec, ig, og, full.grads()).unwrap();
    let (want_bits, full_bits) = (with_k.bits(), full.bits());
    for (i, name) in GRAD_NAMES.iter().enumerate() {
        assert_eq!(full_bits[i].is_some(), want[i], "{what}: {name}");
        assert!(full_bits[i] == want_bits[i], "{what}: {name} differs from backward's");
    }
    for i in (0..4).filter(|&i| want[i]) {
        let mut only = [false; 4];
        only[i] = true;
        let mut alone = Outs::<T>::new(&p.shape, only, 3.25);
        plan.backward_spectrum(&p.shape, &dy, &x.u, &spec, ig, og, alone.grads()).unwrap();
        let alone_bits = alone.bits();
        assert!(alone_bits[i] == full_bits[i], "{what}: {} alone differs from the full call's", GRAD_NAMES[i]);
        assert!((0..4).filter(|&j| j != i).all(|j| alone_bits[j].is_none()));
    }
}

// (B, H, L, K, N): fused sizes (256, circular and causal; 4096) and a larger N
// (65536, three Monarch factors on the CPU); odd B.
const SPECTRUM_CASES: [(i64, i64, i64, i64, u64); 4] =
    [(3, 2, 256, 256, 256), (1, 3, 150, 100, 256), (3, 2, 3000, 1000, 4096), (3, 1, 40000, 20000, 65536)];

fn run_backward_spectrum<T: Conv>(dtype: DType) {
    for &(b, h, l, kl, n) in &SPECTRUM_CASES {
        let plan = cpu_plan(n, dtype);
        for gates in [false, true] {
            let mut p = Problem::new(b, h, l, kl, n as usize, gates, (l + kl) as u64);
            let what = format!("{dtype:?} gates={gates} B={b} L={l} K={kl} N={n}");
            check_backward_spectrum::<T>(&plan, &mut p, l as u64 * 13 + 1, &what);
        }
    }
}

#[test]
fn backward_spectrum_matches_backward_f32() {
    run_backward_spectrum::<f32>(DType::F32);
}

#[test]
fn backward_spectrum_matches_backward_f16() {
    run_backward_spectrum::<F16>(DType::F16);
}

#[test]
fn backward_spectrum_matches_backward_bf16() {
    run_backward_spectrum::<Bf16>(DType::Bf16);
}

#[test]
fn backward_spectrum_partial_long_sequence() {
    // L > N: overlap-save windows.
    let plan = partial_plan(256, DType::F32);
    let mut p = linear_problem(3, 2, 1000, 100, true, 23);
    check_backward_spectrum::<f32>(&plan, &mut p, 29, "partial L=1000 K=100 N=256");
}

#[test]
fn backward_spectrum_refuses_a_foreign_spectrum_and_bad_slices() {
    let p = Problem::new(3, 2, 200, 57, 256, false, 31);
    let plan = cpu_plan(256, DType::F32);
    let x = p.operands::<f32>();
    let dy = vec![1.0f32; p.shape.signal_len()];
    let spec = plan.compute_spectrum(&p.shape, &x.k).unwrap();
    let mut dk = vec![0f32; p.shape.kernel_elements()];
    // Another plan's spectrum.
    let other = cpu_plan(256, DType::F32);
    let e = err(other.backward_spectrum(
        &p.shape,
        &dy,
        &x.u,
        &spec,
        None,
        None,
        Gradients { dk: Some(&mut dk), ..Default::default() },
    ));
    assert_eq!(e.status, Status::InvalidArgument);
    // A spectrum made for another K.
    let short = Shape::new(3, 2, 200, 30);
    let spec30 = plan.compute_spectrum(&short, &x.k[..short.kernel_elements()]).unwrap();
    let e = err(plan.backward_spectrum(
        &p.shape,
        &dy,
        &x.u,
        &spec30,
        None,
        None,
        Gradients { dk: Some(&mut dk), ..Default::default() },
    ));
    assert_eq!(e.status, Status::InvalidArgument);
    // Slice lengths and dtype.
    let e = err(plan.backward_spectrum(
        &p.shape,
        &dy[1..],
        &x.u,
        &spec,
        None,
        None,
        Gradients { dk: Some(&mut dk), ..Default::default() },
    ));
    assert_eq!(e.status, Status::InvalidShape);
    assert!(e.message.contains("dy"), "{}", e.message);
    let e = err(plan.backward_spectrum(
        &p.shape,
        &dy,
        &x.u,
        &spec,
        None,
        None,
        Gradients { dk: Some(&mut dk[1..]), ..Default::default() },
    ));
    assert_eq!(e.status, Status::InvalidShape);
    let (dyh, uh) = (vec![F16::default(); dy.len()], vec![F16::default(); dy.len()]);
    let e = err(plan.backward_spectrum(&p.shape, &dyh, &uh, &spec, None, None, Gradients::default()));
    assert_eq!(e.status, Status::InvalidDtype);
    // A gate gradient without the gate is the library's error, as for backward.
    let mut dig = vec![0f32; dy.len()];
    let e = err(plan.backward_spectrum(
        &p.shape,
        &dy,
        &x.u,
        &spec,
        None,
        None,
        Gradients { d_in_gate: Some(&mut dig), ..Default::default() },
    ));
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(e.message.contains("in_gate"), "{}", e.message);
}

/// 16-byte aligned storage, as the library wants for a spectrum.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct A16([u8; 16]);

#[test]
fn backward_spectrum_raw_too_small_and_overlapping() {
    use core::ffi::c_void;
    use core::ptr::null_mut;
    let p = Problem::new(3, 2, 200, 57, 256, true, 37);
    let plan = cpu_plan(256, DType::F32);
    let x = p.operands::<f32>();
    let (ig, og) = (x.ig.as_deref().unwrap(), x.og.as_deref().unwrap());
    let m = p.shape.signal_len();
    let dy = vec![1.0f32; m];
    let need = plan.spectrum_size(&p.shape).unwrap();
    let ws_need = plan.workspace_size(&p.shape).unwrap();
    // [spectrum][room for the largest operand], so an operand may start inside it.
    let room = (m * 4).max(ws_need);
    let mut buf = vec![A16([0; 16]); (need + room).div_ceil(16)];
    let spec: *mut u8 = buf.as_mut_ptr().cast();
    let mut ws = vec![0u8; ws_need.max(1)];
    let (mut du, mut dk) = (vec![7f32; m], vec![7f32; p.shape.kernel_elements()]);
    let (mut dig, mut dog) = (vec![7f32; m], vec![7f32; m]);
    // The four outputs and the workspace, in the order backward_spectrum_raw takes them.
    let targets = |du: &mut [f32], dk: &mut [f32], dig: &mut [f32], dog: &mut [f32], ws: &mut [u8]| {
        [
            du.as_mut_ptr().cast::<c_void>(),
            dk.as_mut_ptr().cast(),
            dig.as_mut_ptr().cast(),
            dog.as_mut_ptr().cast(),
            ws.as_mut_ptr().cast(),
        ]
    };
    // SAFETY: host buffers of the sizes the shape implies; the spectrum buffer holds
    // need + room bytes, 16-byte aligned, so every operand placed in it stays inside.
    unsafe {
        plan.compute_spectrum_raw(&p.shape, x.k.as_ptr(), spec.cast(), need, null_mut()).unwrap();
        let call = |size: usize, t: [*mut c_void; 5]| {
            plan.backward_spectrum_raw(
                &p.shape,
                dy.as_ptr().cast(),
                x.u.as_ptr().cast(),
                spec as *const c_void,
                size,
                ig.as_ptr().cast(),
                og.as_ptr().cast(),
                t[0],
                t[1].cast(),
                t[2],
                t[3],
                t[4],
                ws_need,
                null_mut(),
            )
        };
        let before = std::slice::from_raw_parts(spec, need + room).to_vec();

        // spectrum_size one byte short: BufferTooSmall, nothing written.
        let e = err(call(need - 1, targets(&mut du, &mut dk, &mut dig, &mut dog, &mut ws)));
        assert_eq!(e.status, Status::BufferTooSmall);
        assert!(e.message.contains(&need.to_string()), "{}", e.message);
        assert!(du.iter().chain(&dk).chain(&dig).chain(&dog).all(|&v| v == 7.0));

        // Each output, then the workspace, starting 16 bytes into the spectrum: InvalidArgument.
        for (i, name) in ["du", "dk", "d_in_gate", "d_out_gate", "workspace"].into_iter().enumerate() {
            if name == "workspace" && ws_need == 0 {
                continue; // no workspace to place
            }
            let mut t = targets(&mut du, &mut dk, &mut dig, &mut dog, &mut ws);
            t[i] = spec.add(16).cast();
            let e = err(call(need, t));
            assert_eq!(e.status, Status::InvalidArgument, "{name}");
            assert!(e.message.contains(&format!("{name} overlaps spectrum")), "{}", e.message);
        }
        assert!(std::slice::from_raw_parts(spec, need + room) == &before[..], "the spectrum was written");
        assert!(du.iter().chain(&dk).chain(&dig).chain(&dog).all(|&v| v == 7.0));

        // The well-formed call succeeds.
        call(need, targets(&mut du, &mut dk, &mut dig, &mut dog, &mut ws)).unwrap();
    }
    // ... bitwise equal to backward with k.
    let mut with_k = Outs::<f32>::new(&p.shape, [true; 4], 0.0);
    plan.backward(&p.shape, &dy, &x.u, &x.k, Some(ig), Some(og), with_k.grads()).unwrap();
    let got = [&du, &dk, &dig, &dog].map(|v| Some(v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>()));
    assert!(got == with_k.bits());
}

#[test]
fn plan_shared_across_threads() {
    let p = Problem::new(4, 4, 200, 200, 512, true, 3);
    let plan = Arc::new(cpu_plan(512, DType::F32));
    let (u, k): (Vec<f32>, Vec<f32>) = (to(&p.u), to(&p.k));
    let mut expected = vec![0f32; p.shape.signal_len()];
    plan.forward(&p.shape, &u, &k, None, None, &mut expected).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (plan, u, k, shape) = (plan.clone(), u.clone(), k.clone(), p.shape);
            std::thread::spawn(move || {
                let mut y = vec![0f32; shape.signal_len()];
                plan.forward(&shape, &u, &k, None, None, &mut y).unwrap();
                y
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }
}

// -- information -------------------------------------------------------------------------

#[test]
fn version_and_build_info() {
    assert!(flashfftconv::version_compatible(), "loaded {}", flashfftconv::version_string());
    // These bindings target 0.5 (ffc_conv_backward_spectrum; descriptor version 3).
    assert_eq!(flashfftconv::version_number() / 100, 5, "loaded {}", flashfftconv::version_string());
    assert!(flashfftconv::version_string().starts_with("0.5."));
    assert!(env!("CARGO_PKG_VERSION").starts_with("0.5."));
    let info = flashfftconv::build_info();
    assert!(info.contains(&format!("\"version_number\":{}", flashfftconv::version_number())), "{info}");
    assert!(Backend::Cpu.available());
}

#[test]
fn plan_info_and_describe() {
    let plan = cpu_plan(4096, DType::Bf16);
    let info = plan.info().unwrap();
    assert_eq!((info.fft_size, info.dtype, info.backend, info.device), (4096, DType::Bf16, Backend::Cpu, -1));
    assert_eq!(info.factors.iter().map(|&f| f as u64).product::<u64>(), 4096);
    assert!(!plan.describe().unwrap().is_empty());
    assert_eq!(plan.dtype(), DType::Bf16);
    assert_eq!(plan.backend(), Backend::Cpu);
}

// -- errors ------------------------------------------------------------------------------

fn err<T>(r: Result<T, Error>) -> Error {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[test]
fn invalid_fft_size() {
    let e = err(Plan::new(&PlanDesc::new(1000).backend(Backend::Cpu)));
    assert_eq!(e.status, Status::InvalidFftSize);
    assert!(e.message.contains("1000"), "{}", e.message);
    assert!(e.to_string().contains("1002"));
}

#[test]
fn too_many_forced_factors() {
    let e = err(Plan::new(&PlanDesc::new(512).backend(Backend::Cpu).force_factors(&[2; 9])));
    assert_eq!(e.status, Status::InvalidFlags);
}

#[test]
fn force_kernel_is_refused_by_the_cpu_backend() {
    // The CPU backend has no kernel variants: any name is a clear NoKernel.
    for name in ["fused_n1024_4x16x16", "cpu_monarch"] {
        let e = err(Plan::new(&PlanDesc::new(1024).dtype(DType::F32).backend(Backend::Cpu).force_kernel(name)));
        assert_eq!(e.status, Status::NoKernel);
        assert!(e.message.contains("CPU backend") && e.message.contains(name), "{}", e.message);
    }
    // Malformed names are InvalidFlags: empty, an interior NUL (caught by the
    // binding), longer than the library reads (caught by the library).
    let long = "x".repeat(300);
    for name in ["", "fused\0n1024", long.as_str()] {
        let e = err(Plan::new(&PlanDesc::new(1024).backend(Backend::Cpu).force_kernel(name)));
        assert_eq!(e.status, Status::InvalidFlags, "{name:?}");
        assert!(e.message.contains("force_kernel"), "{}", e.message);
    }
    // Without it, the same descriptor works.
    let plan =
        Plan::new(&PlanDesc::new(1024).dtype(DType::F32).backend(Backend::Cpu).force_factors(&[32, 32])).unwrap();
    assert_eq!(plan.info().unwrap().factors, vec![32, 32]);
}

#[test]
fn force_kernel_builder_owns_its_string() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PlanDesc>();
    let desc = PlanDesc::new(16384).force_kernel("fused_n16384_4x16cx16x16_c2");
    assert_eq!(desc.as_raw().version, flashfftconv::sys::FFC_PLAN_DESC_VERSION);
    let copy = desc.clone();
    assert_ne!(copy.as_raw().force_kernel, desc.as_raw().force_kernel);
    drop(desc);
    // SAFETY: the pointer refers to `copy`'s own NUL-terminated string.
    let name = unsafe { core::ffi::CStr::from_ptr(copy.as_raw().force_kernel) };
    assert_eq!(name.to_str().unwrap(), "fused_n16384_4x16cx16x16_c2");
    assert!(PlanDesc::new(1024).as_raw().force_kernel.is_null());
}

#[test]
fn version_1_descriptor_is_still_accepted() {
    use flashfftconv::sys;
    let mut d = sys::ffc_plan_desc_t::init();
    d.version = 1; // what a caller of the version-1 header sends: the slot is a zero
    d.fft_size = 1024;
    d.dtype = sys::FFC_DTYPE_FP32;
    d.backend = sys::FFC_BACKEND_CPU;
    let mut raw: sys::ffc_plan_t = core::ptr::null_mut();
    // SAFETY: valid pointers for the call; a created plan is owned by the Plan below.
    assert_eq!(unsafe { sys::ffc_plan_create(&mut raw, &d) }, sys::FFC_SUCCESS);
    // SAFETY: `raw` came from ffc_plan_create and is owned by nobody else.
    let plan = unsafe { Plan::from_raw(raw) }.unwrap();
    assert_eq!(plan.info().unwrap().fft_size, 1024);
    // In version 1 the slot is reserved: a pointer there is an invalid descriptor.
    let name = c"fused_n1024_4x16x16";
    d.force_kernel = name.as_ptr();
    let mut raw: sys::ffc_plan_t = core::ptr::null_mut();
    // SAFETY: as above; `name` outlives the call.
    assert_eq!(unsafe { sys::ffc_plan_create(&mut raw, &d) }, sys::FFC_ERROR_INVALID_DESCRIPTOR);
    assert!(raw.is_null());
}

#[test]
fn seq_len_above_fft_size_is_a_library_error() {
    let plan = cpu_plan(256, DType::F32);
    let shape = Shape::new(1, 1, 300, 10);
    let e = err(plan.workspace_size(&shape));
    assert_eq!(e.status, Status::InvalidShape);
    assert!(e.message.contains("seq_len = 300"), "{}", e.message);
    let (u, k, mut y) = (vec![0f32; 300], vec![0f32; 10], vec![0f32; 300]);
    let e = err(plan.forward(&shape, &u, &k, None, None, &mut y));
    assert_eq!(e.status, Status::InvalidShape);
}

#[test]
fn zero_batch_is_a_library_error() {
    let plan = cpu_plan(256, DType::F32);
    let e = err(plan.workspace_size(&Shape::new(0, 1, 10, 10)));
    assert_eq!(e.status, Status::InvalidShape);
    assert!(e.message.contains("batch"), "{}", e.message);
}

#[test]
fn slice_errors() {
    let plan = cpu_plan(256, DType::F32);
    let shape = Shape::new(1, 2, 100, 100);
    let (u, k, mut y) = (vec![0f32; 200], vec![0f32; 200], vec![0f32; 200]);
    let e = err(plan.forward(&shape, &u[..199], &k, None, None, &mut y));
    assert_eq!(e.status, Status::InvalidShape);
    assert!(e.message.contains('u'));
    let uh = vec![F16::default(); 200];
    let mut yh = vec![F16::default(); 200];
    let e = err(plan.forward(&shape, &uh, &k, None, None, &mut yh));
    assert_eq!(e.status, Status::InvalidDtype);
}

#[test]
fn gate_gradient_without_gate_is_a_library_error() {
    let plan = cpu_plan(256, DType::F32);
    let shape = Shape::new(1, 1, 50, 50);
    let v = vec![0.5f32; 50];
    let mut dig = vec![0f32; 50];
    let e = err(plan.backward(
        &shape,
        &v,
        &v,
        &v,
        None,
        None,
        Gradients { d_in_gate: Some(&mut dig), ..Default::default() },
    ));
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(e.message.contains("in_gate"), "{}", e.message);
}

#[test]
fn workspace_too_small() {
    let plan = cpu_plan(256, DType::F32);
    let shape = Shape::new(2, 2, 256, 256);
    let need = plan.workspace_size(&shape).unwrap();
    if need == 0 {
        return; // nothing to under-size
    }
    let (u, k, mut y) = (vec![0f32; 1024], vec![0f32; 512], vec![0f32; 1024]);
    let mut ws = vec![0u8; need - 1];
    let e = err(plan.forward_with_workspace(&shape, &u, &k, None, None, &mut y, &mut ws));
    assert_eq!(e.status, Status::WorkspaceTooSmall);
}

#[test]
fn cuda_plan_without_cuda() {
    if Backend::Cuda.available() {
        return; // covered on GPU machines by the library's own tests
    }
    let e = err(Plan::new(&PlanDesc::new(1024).backend(Backend::Cuda)));
    assert_eq!(e.status, Status::BackendUnavailable);
    assert!(!e.message.is_empty());
}

#[test]
fn status_round_trip() {
    for code in [0, 1000, 1003, 2001, 3000, 4000, 1234] {
        assert_eq!(Status::from_raw(code).as_raw(), code);
    }
    assert_eq!(Status::from_raw(1234), Status::Other(1234));
    assert_eq!(Status::InvalidShape.description(), "invalid shape");
}

// -- Drop --------------------------------------------------------------------------------

#[test]
fn plans_are_dropped_and_raw_handles_round_trip() {
    // Many create/drop cycles: a missing destroy would leak, a double destroy
    // would crash (the library frees the plan's tables).
    for i in 0..200u64 {
        let plan = cpu_plan(256 << (i % 5), DType::F32);
        drop(plan);
    }
    let plan = cpu_plan(512, DType::F16);
    let raw = plan.into_raw();
    // SAFETY: raw came from into_raw and is owned by nobody else.
    let plan = unsafe { Plan::from_raw(raw) }.unwrap();
    assert_eq!(plan.info().unwrap().fft_size, 512);
    // Moved into another thread and dropped there (Plan is Send).
    std::thread::spawn(move || drop(plan)).join().unwrap();
    // A failed creation leaves nothing to drop.
    assert!(Plan::new(&PlanDesc::new(3)).is_err());
}

// =========================================================================================
// Partial convolution (FFC_PLAN_PARTIAL, library 0.3): causal linear convolution, any L
// =========================================================================================

fn partial_plan(n: u64, dtype: DType) -> Plan {
    Plan::new(&cpu_desc(n, dtype).partial(true)).expect("plan")
}

/// A problem whose reference is the causal linear convolution: the direct
/// definition with a circular size L + K, which cannot wrap.
fn linear_problem(b: i64, h: i64, l: i64, kl: i64, gates: bool, seed: u64) -> Problem {
    Problem::new(b, h, l, kl, (l + kl) as usize, gates, seed)
}

#[test]
fn linear_reference_is_the_linear_convolution() {
    // Guards the reference: z[t] = Σ_{s ≤ t} k[s] u[t − s], written out.
    let p = linear_problem(1, 2, 30, 7, false, 1);
    let z = p.forward();
    for c in 0..2 {
        for t in 0..30 {
            let want: f64 = (0..7.min(t + 1)).map(|s| p.k[c * 7 + s] * p.u[c * 30 + t - s]).sum();
            assert!((z[c * 30 + t] - want).abs() < 1e-12);
        }
    }
}

// (B, H, L, K) on N = 256 with L > N: overlap-save windows. K = 1, short, and
// N/2 (the longest kernel a windowed call takes); odd B.
const LONG: [(i64, i64, i64, i64); 5] =
    [(3, 2, 1000, 1), (3, 2, 1000, 5), (3, 2, 1000, 128), (3, 2, 2049, 5), (1, 3, 2049, 128)];

fn run_partial_forward<T: Conv>(dtype: DType, gates: bool) {
    let plan = partial_plan(256, dtype);
    assert!(plan.is_partial());
    for &(b, h, l, kl) in &LONG {
        let mut p = linear_problem(b, h, l, kl, gates, (l * 3 + kl) as u64);
        check_forward::<T>(&plan, &mut p, &format!("partial {dtype:?} gates={gates} B={b} L={l} K={kl}"));
    }
}

#[test]
fn partial_forward_f32() {
    run_partial_forward::<f32>(DType::F32, false);
    run_partial_forward::<f32>(DType::F32, true);
}

#[test]
fn partial_forward_f16() {
    run_partial_forward::<F16>(DType::F16, false);
    run_partial_forward::<F16>(DType::F16, true);
}

#[test]
fn partial_forward_bf16() {
    run_partial_forward::<Bf16>(DType::Bf16, false);
    run_partial_forward::<Bf16>(DType::Bf16, true);
}

fn run_partial_backward<T: Conv>(dtype: DType) {
    let plan = partial_plan(256, dtype);
    for &(b, h, l, kl) in &[(3i64, 2i64, 1000i64, 100i64), (1, 2, 2049, 128), (3, 1, 777, 1)] {
        let mut p = linear_problem(b, h, l, kl, true, (l + kl) as u64);
        let what = format!("partial {dtype:?} L={l} K={kl}");
        let BackwardRun { x, dy, dk } = check_backward::<T>(&plan, &mut p, l as u64 * 31 + 7, &what);
        // dk is deterministic on partial plans too.
        let mut dk2 = vec![0f32; p.shape.kernel_elements()];
        plan.backward(
            &p.shape,
            &dy,
            &x.u,
            &x.k,
            x.ig.as_deref(),
            x.og.as_deref(),
            Gradients { dk: Some(&mut dk2), ..Default::default() },
        )
        .unwrap();
        assert!(dk.iter().zip(&dk2).all(|(a, b)| a.to_bits() == b.to_bits()), "dk differs between runs");
    }
}

#[test]
fn partial_backward_f32() {
    run_partial_backward::<f32>(DType::F32);
}

#[test]
fn partial_backward_f16() {
    run_partial_backward::<F16>(DType::F16);
}

#[test]
fn partial_backward_bf16() {
    run_partial_backward::<Bf16>(DType::Bf16);
}

#[test]
fn partial_spectrum_reuse_long_sequence() {
    let p = linear_problem(3, 2, 1000, 100, true, 17);
    let (y, _) = forward_with_spectrum(&partial_plan(256, DType::F32), &p);
    let r = p.forward();
    assert!(rel_l2(&back(&y), &r) <= tolerance::<f32>(&r));
}

#[test]
fn partial_without_wrap_equals_plain_plan() {
    // L + K − 1 ≤ N: the partial plan's call is the plain plan's, bit for bit.
    let (partial, plain) = (partial_plan(256, DType::F16), cpu_plan(256, DType::F16));
    assert!(!plain.is_partial());
    for &(b, h, l, kl) in &[(3i64, 2i64, 200i64, 57i64), (1, 2, 129, 128), (2, 1, 100, 157)] {
        let mut p = linear_problem(b, h, l, kl, true, 5);
        p.round::<F16>();
        let x = p.operands::<F16>();
        let (ig, og) = (x.ig.as_deref(), x.og.as_deref());
        let (mut y1, mut y2) = (vec![F16::default(); p.shape.signal_len()], vec![F16::default(); p.shape.signal_len()]);
        partial.forward(&p.shape, &x.u, &x.k, ig, og, &mut y1).unwrap();
        plain.forward(&p.shape, &x.u, &x.k, ig, og, &mut y2).unwrap();
        assert!(y1.iter().zip(&y2).all(|(a, b)| a.to_bits() == b.to_bits()), "L={l} K={kl}");
        let r = p.forward();
        assert!(rel_l2(&back(&y1), &r) <= tolerance::<F16>(&r));
    }
}

#[test]
fn partial_kernel_above_half_fft_size() {
    let plan = partial_plan(256, DType::F32);
    // K = 129 > N/2 and L = 129 > N − K + 1: the call would need windows.
    let shape = Shape::new(1, 2, 129, 129);
    let e = err(plan.workspace_size(&shape));
    assert_eq!(e.status, Status::InvalidShape);
    assert!(e.message.contains("N/2") && e.message.contains("kernel_len = 129"), "{}", e.message);
    let (u, k, mut y) = (vec![0.5f32; 258], vec![0.1f32; 258], vec![0f32; 258]);
    assert_eq!(err(plan.forward(&shape, &u, &k, None, None, &mut y)).status, Status::InvalidShape);
    let mut dk = vec![0f32; 258];
    let e = err(plan.backward(&shape, &u, &u, &k, None, None, Gradients { dk: Some(&mut dk), ..Default::default() }));
    assert_eq!(e.status, Status::InvalidShape);
    // L = 128 (L + K − 1 = N) does not wrap and runs.
    let shape = Shape::new(1, 2, 128, 129);
    let mut y = vec![0f32; 256];
    plan.forward(&shape, &u[..256], &k, None, None, &mut y).unwrap();
    // K > N is refused by partial plans as by plain ones.
    assert_eq!(err(plan.workspace_size(&Shape::new(1, 1, 100, 300))).status, Status::InvalidShape);
}

#[test]
fn partial_plan_flags_and_describe() {
    let d = PlanDesc::new(1024).partial(true);
    assert!(d.is_partial());
    assert_eq!(d.as_raw().flags, flashfftconv::sys::FFC_PLAN_PARTIAL);
    assert!(!d.clone().partial(false).is_partial());
    assert_eq!(PlanDesc::new(1024).flags(0x80).partial(true).as_raw().flags, 0x81);
    assert_eq!(PlanDesc::new(1024).partial(true).partial(false).as_raw().flags, 0);
    // Unknown flag bits stay a library error.
    for flags in [2u32, 0x81] {
        let e = err(Plan::new(&PlanDesc::new(1024).backend(Backend::Cpu).flags(flags)));
        assert_eq!(e.status, Status::InvalidFlags, "{flags:#x}");
    }
    let plan = partial_plan(1024, DType::F32);
    assert!(plan.is_partial() && format!("{plan:?}").contains("partial: true"));
    assert!(plan.describe().unwrap().contains("FFC_PLAN_PARTIAL"));
    // Any seq_len is a valid shape for a partial plan, not for a plain one.
    let long = Shape::new(2, 3, 100_000, 512);
    assert!(plan.workspace_size(&long).unwrap() > 0);
    assert_eq!(err(cpu_plan(1024, DType::F32).workspace_size(&long)).status, Status::InvalidShape);
    // A raw handle round trip finds out which kind of plan it holds.
    // SAFETY: the handles come from into_raw and are owned by nobody else.
    let back_plan = unsafe { Plan::from_raw(plan.into_raw()) }.unwrap();
    assert!(back_plan.is_partial());
    let plain = unsafe { Plan::from_raw(cpu_plan(1024, DType::F32).into_raw()) }.unwrap();
    assert!(!plain.is_partial());
}

// =========================================================================================
// Short depthwise convolution (ffc_conv1d_*)
// =========================================================================================

use flashfftconv::{Conv1dDesc, Conv1dGradients, Conv1dPlan, Conv1dShape, Layout};

/// A short-convolution problem in f64, with x and y in the given layout.
struct Conv1dProblem {
    b: usize,
    h: usize,
    l: usize,
    k: usize,
    left: usize,
    right: usize,
    layout: Layout,
    x: Vec<f64>,
    w: Vec<f64>,
    bias: Option<Vec<f64>>,
}

impl Conv1dProblem {
    #[allow(clippy::too_many_arguments)]
    fn new(b: usize, h: usize, l: usize, k: usize, left: usize, right: usize, layout: Layout, seed: u64) -> Self {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        Conv1dProblem {
            b,
            h,
            l,
            k,
            left,
            right,
            layout,
            x: r.vec(b * h * l, 1.0),
            w: r.vec(h * k, 1.0 / (k as f64).sqrt()).iter().map(|&v| v as f32 as f64).collect(),
            bias: Some(r.vec(h, 1.0).iter().map(|&v| v as f32 as f64).collect()),
        }
    }
    fn l_out(&self) -> usize {
        self.l + self.left + self.right + 1 - self.k
    }
    fn shape(&self) -> Conv1dShape {
        Conv1dShape::new(self.b as i64, self.h as i64, self.l as i64)
    }
    fn desc(&self, dtype: DType) -> Conv1dDesc {
        Conv1dDesc::new(self.k as i32)
            .dtype(dtype)
            .backend(Backend::Cpu)
            .layout(self.layout)
            .padding(self.left as i32, self.right as i32)
            .cpu_threads(2)
    }
    /// Element offset of (b, h, t) in a tensor of sequence length `len`.
    fn at(&self, b: usize, h: usize, t: usize, len: usize) -> usize {
        match self.layout {
            Layout::Bhl => (b * self.h + h) * len + t,
            Layout::Blh => (b * len + t) * self.h + h,
        }
    }
    fn round<T: Conv>(&mut self) {
        for v in self.x.iter_mut() {
            *v = T::from_f64(*v).to_f64();
        }
    }
    /// x[b,h,s] for any s (zero outside [0, L)).
    fn xv(&self, b: usize, h: usize, s: isize) -> f64 {
        if s < 0 || s as usize >= self.l {
            0.0
        } else {
            self.x[self.at(b, h, s as usize, self.l)]
        }
    }
    /// The header's formula, directly.
    fn forward(&self) -> Vec<f64> {
        let lo = self.l_out();
        let mut y = vec![0.0; self.b * self.h * lo];
        for b in 0..self.b {
            for h in 0..self.h {
                for t in 0..lo {
                    let mut acc = self.bias.as_ref().map_or(0.0, |bias| bias[h]);
                    for j in 0..self.k {
                        acc += self.w[h * self.k + j] * self.xv(b, h, (t + j) as isize - self.left as isize);
                    }
                    y[self.at(b, h, t, lo)] = acc;
                }
            }
        }
        y
    }
    /// (dx, dw, dbias) by the header's formulas, directly.
    fn backward(&self, dy: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let lo = self.l_out() as isize;
        let mut dx = vec![0.0; self.x.len()];
        let mut dw = vec![0.0; self.h * self.k];
        let mut db = vec![0.0; self.h];
        for b in 0..self.b {
            for h in 0..self.h {
                for s in 0..self.l {
                    let mut acc = 0.0;
                    for j in 0..self.k {
                        let t = s as isize - j as isize + self.left as isize;
                        if (0..lo).contains(&t) {
                            acc += self.w[h * self.k + j] * dy[self.at(b, h, t as usize, lo as usize)];
                        }
                    }
                    dx[self.at(b, h, s, self.l)] = acc;
                }
                for t in 0..lo as usize {
                    let g = dy[self.at(b, h, t, lo as usize)];
                    db[h] += g;
                    for j in 0..self.k {
                        dw[h * self.k + j] += g * self.xv(b, h, (t + j) as isize - self.left as isize);
                    }
                }
            }
        }
        (dx, dw, db)
    }
}

/// fp32 sums of n products (dweight, dbias): the f32 floor, or a few units of
/// roundoff times sqrt(n).
fn reduction_tolerance(n_terms: usize) -> f64 {
    (4.0 * f64::powi(2.0, -24) * (n_terms as f64).sqrt()).max(2e-6)
}

// (B, H, L, K, left, right): K = 1, 3, 4, 7, 128; causal, same (even K), valid,
// asymmetric, full, L_out = 1, L < K.
const CONV1D_CASES: [(usize, usize, usize, usize, usize, usize); 9] = [
    (2, 3, 37, 1, 0, 0),
    (3, 5, 64, 3, 2, 0),
    (2, 4, 40, 4, 1, 2),
    (1, 3, 17, 3, 0, 0),
    (2, 2, 31, 5, 3, 1),
    (2, 3, 12, 7, 6, 6),
    (3, 2, 7, 7, 0, 0),
    (2, 3, 150, 128, 127, 0),
    (1, 2, 60, 128, 100, 27),
];

fn run_conv1d_forward<T: Conv>(dtype: DType) {
    for layout in [Layout::Bhl, Layout::Blh] {
        for (i, &(b, h, l, k, left, right)) in CONV1D_CASES.iter().enumerate() {
            let mut p = Conv1dProblem::new(b, h, l, k, left, right, layout, 100 + i as u64);
            p.round::<T>();
            if i % 2 == 1 {
                p.bias = None;
            }
            let plan = Conv1dPlan::new(&p.desc(dtype)).unwrap();
            assert_eq!(plan.output_length(l as i64).unwrap(), p.l_out() as i64);
            let x: Vec<T> = to(&p.x);
            let w: Vec<f32> = to(&p.w);
            let bias: Option<Vec<f32>> = p.bias.as_deref().map(to);
            let mut y = vec![T::default(); b * h * p.l_out()];
            plan.forward(&p.shape(), &x, &w, bias.as_deref(), &mut y).unwrap();
            let r = p.forward();
            let (err, tol) = (rel_l2(&back(&y), &r), tolerance::<T>(&r));
            assert!(err <= tol, "{dtype:?} {layout:?} case {i}: err {err:.3e} > tol {tol:.3e}");
        }
    }
}

#[test]
fn conv1d_forward_f32() {
    run_conv1d_forward::<f32>(DType::F32);
}

#[test]
fn conv1d_forward_f16() {
    run_conv1d_forward::<F16>(DType::F16);
}

#[test]
fn conv1d_forward_bf16() {
    run_conv1d_forward::<Bf16>(DType::Bf16);
}

fn run_conv1d_backward<T: Conv>(dtype: DType) {
    for layout in [Layout::Bhl, Layout::Blh] {
        for (i, &(b, h, l, k, left, right)) in CONV1D_CASES.iter().enumerate() {
            let mut p = Conv1dProblem::new(b, h, l, k, left, right, layout, 200 + i as u64);
            p.round::<T>();
            let n_out = b * h * p.l_out();
            let dy64: Vec<f64> = Rng(7 + i as u64).vec(n_out, 1.0).iter().map(|&v| T::from_f64(v).to_f64()).collect();
            let plan = Conv1dPlan::new(&p.desc(dtype)).unwrap();
            let (x, dy): (Vec<T>, Vec<T>) = (to(&p.x), to(&dy64));
            let w: Vec<f32> = to(&p.w);
            let mut dx = vec![T::default(); x.len()];
            let mut dw = vec![0f32; w.len()];
            let mut db = vec![0f32; h];
            plan.backward(
                &p.shape(),
                &dy,
                &x,
                &w,
                Conv1dGradients { dx: Some(&mut dx), dweight: Some(&mut dw), dbias: Some(&mut db) },
            )
            .unwrap();
            let (rdx, rdw, rdb) = p.backward(&dy64);
            let red = reduction_tolerance(b * p.l_out());
            for (name, got, want, tol) in [
                ("dx", back(&dx), rdx.clone(), tolerance::<T>(&rdx)),
                ("dweight", back(&dw), rdw, red),
                ("dbias", back(&db), rdb, red),
            ] {
                let err = rel_l2(&got, &want);
                assert!(err <= tol, "{dtype:?} {layout:?} case {i} {name}: err {err:.3e} > tol {tol:.3e}");
            }
        }
    }
}

#[test]
fn conv1d_backward_f32() {
    run_conv1d_backward::<f32>(DType::F32);
}

#[test]
fn conv1d_backward_f16() {
    run_conv1d_backward::<F16>(DType::F16);
}

#[test]
fn conv1d_backward_bf16() {
    run_conv1d_backward::<Bf16>(DType::Bf16);
}

#[test]
fn conv1d_backward_subsets_and_determinism() {
    let p = Conv1dProblem::new(4, 6, 300, 4, 3, 0, Layout::Blh, 31);
    let plan = Conv1dPlan::new(&p.desc(DType::F32)).unwrap();
    let (x, w): (Vec<f32>, Vec<f32>) = (to(&p.x), to(&p.w));
    let dy64 = Rng(5).vec(x.len(), 1.0);
    let dy: Vec<f32> = to(&dy64);
    let (rdx, rdw, rdb) = p.backward(&back(&dy));
    // dbias only
    let mut db = vec![0f32; 6];
    plan.backward(&p.shape(), &dy, &x, &w, Conv1dGradients { dbias: Some(&mut db), ..Default::default() }).unwrap();
    assert!(rel_l2(&back(&db), &rdb) <= 2e-6);
    // dx only
    let mut dx = vec![0f32; x.len()];
    plan.backward(&p.shape(), &dy, &x, &w, Conv1dGradients { dx: Some(&mut dx), ..Default::default() }).unwrap();
    assert!(rel_l2(&back(&dx), &rdx) <= 2e-6);
    // dweight twice: identical bits
    let mut dw1 = vec![0f32; w.len()];
    let mut dw2 = vec![0f32; w.len()];
    for dw in [&mut dw1, &mut dw2] {
        plan.backward(&p.shape(), &dy, &x, &w, Conv1dGradients { dweight: Some(dw), ..Default::default() }).unwrap();
    }
    assert!(rel_l2(&back(&dw1), &rdw) <= reduction_tolerance(4 * 300));
    assert_eq!(
        dw1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        dw2.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    // Through raw pointers: x may be null without dweight, weight without dx.
    let ws = plan.workspace_size(&p.shape()).unwrap();
    let mut wsv = vec![0u8; ws.max(1)];
    let mut db2 = vec![0f32; 6];
    // SAFETY: host buffers of the right sizes for a CPU plan.
    unsafe {
        plan.backward_raw(
            &p.shape(),
            dy.as_ptr().cast(),
            core::ptr::null(),
            core::ptr::null(),
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            db2.as_mut_ptr(),
            wsv.as_mut_ptr().cast(),
            wsv.len(),
            core::ptr::null_mut(),
        )
        .unwrap();
    }
    assert_eq!(db, db2);
}

#[test]
fn conv1d_desc_builder() {
    let d = Conv1dDesc::new(4);
    assert_eq!((d.as_raw().padding_left, d.as_raw().padding_right), (3, 0)); // causal by default
    let s = Conv1dDesc::new(4).same();
    assert_eq!((s.as_raw().padding_left, s.as_raw().padding_right), (1, 2)); // PyTorch's split
    let s = Conv1dDesc::new(5).padding(0, 0).same();
    assert_eq!((s.as_raw().padding_left, s.as_raw().padding_right), (2, 2));
    let c = Conv1dDesc::new(7).padding(1, 1).causal();
    assert_eq!((c.as_raw().padding_left, c.as_raw().padding_right), (6, 0));
    assert_eq!(d.as_raw().struct_size, 96);
    assert_eq!(d.as_raw().layout, flashfftconv::sys::FFC_LAYOUT_BHL);
    assert_eq!(Conv1dDesc::new(3).layout(Layout::Blh).as_raw().layout, flashfftconv::sys::FFC_LAYOUT_BLH);
    let plan = Conv1dPlan::new(&Conv1dDesc::new(3).dtype(DType::Bf16).backend(Backend::Cpu).same()).unwrap();
    assert_eq!((plan.dtype(), plan.backend(), plan.layout()), (DType::Bf16, Backend::Cpu, Layout::Bhl));
    assert_eq!((plan.kernel_size(), plan.padding()), (3, (1, 1)));
    assert_eq!(plan.output_length(10).unwrap(), 10);
    assert_eq!(plan.device(), -1);
    // Auto: the plan reports what the library resolved it to (CUDA where a device exists).
    let auto = Conv1dPlan::new(&Conv1dDesc::new(3).dtype(DType::F32)).unwrap();
    let want = if Backend::Cuda.available() { Backend::Cuda } else { Backend::Cpu };
    assert_eq!(auto.backend(), want);
    assert_eq!(auto.device() >= 0, want == Backend::Cuda);
    assert!(format!("{plan:?}").contains("Bf16"));
}

#[test]
fn conv1d_plan_shared_across_threads_and_dropped() {
    let p = Conv1dProblem::new(2, 8, 500, 4, 3, 0, Layout::Bhl, 41);
    let plan = Arc::new(Conv1dPlan::new(&p.desc(DType::F32)).unwrap());
    let (x, w): (Vec<f32>, Vec<f32>) = (to(&p.x), to(&p.w));
    let b: Vec<f32> = to(p.bias.as_ref().unwrap());
    let mut expected = vec![0f32; x.len()];
    plan.forward(&p.shape(), &x, &w, Some(&b), &mut expected).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (plan, x, w, b, shape) = (plan.clone(), x.clone(), w.clone(), b.clone(), p.shape());
            std::thread::spawn(move || {
                let mut y = vec![0f32; x.len()];
                plan.forward(&shape, &x, &w, Some(&b), &mut y).unwrap();
                y
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }
    for _ in 0..200 {
        drop(Conv1dPlan::new(&Conv1dDesc::new(5).dtype(DType::F16).backend(Backend::Cpu)).unwrap());
    }
    let plan = Arc::try_unwrap(plan).unwrap();
    let raw = plan.into_raw();
    // SAFETY: raw came from into_raw and is destroyed exactly once.
    unsafe { flashfftconv::sys::ffc_conv1d_plan_destroy(raw) };
}

#[test]
fn conv1d_plan_errors() {
    let cpu = |k: i32| Conv1dDesc::new(k).dtype(DType::F32).backend(Backend::Cpu);
    for (desc, what) in [
        (cpu(0), "K = 0"),
        (cpu(129), "K = 129"),
        (cpu(3).padding(3, 0), "left padding K"),
        (cpu(3).padding(0, 3), "right padding K"),
        (cpu(3).padding(-1, 0), "negative padding"),
        (cpu(3).cpu_threads(-1), "negative cpu_threads"),
    ] {
        let e = err(Conv1dPlan::new(&desc));
        assert_eq!(e.status, Status::InvalidArgument, "{what}: {e}");
        assert!(!e.message.is_empty(), "{what}");
    }
    assert!(Conv1dPlan::new(&cpu(128).padding(127, 127)).is_ok());
    if !Backend::Cuda.available() {
        let e = err(Conv1dPlan::new(&Conv1dDesc::new(3).backend(Backend::Cuda)));
        assert_eq!(e.status, Status::BackendUnavailable);
    }
}

/// ffc_conv1d_plan_create on a raw descriptor: the status, destroying a plan it made.
fn raw_conv1d_create(d: &flashfftconv::sys::ffc_conv1d_desc_t) -> Status {
    use flashfftconv::sys;
    let mut raw: sys::ffc_conv1d_plan_t = core::ptr::null_mut();
    // SAFETY: valid pointers for the call; a created plan is destroyed right away.
    let st = unsafe { sys::ffc_conv1d_plan_create(&mut raw, d) };
    if !raw.is_null() {
        // SAFETY: created above, destroyed once.
        unsafe { sys::ffc_conv1d_plan_destroy(raw) };
    }
    Status::from_raw(st)
}

#[test]
fn conv1d_raw_descriptor_errors() {
    use flashfftconv::sys;
    let base = *Conv1dDesc::new(3).dtype(DType::F32).backend(Backend::Cpu).as_raw();
    assert_eq!(raw_conv1d_create(&base), Status::Success);
    let with = |f: &dyn Fn(&mut sys::ffc_conv1d_desc_t)| {
        let mut d = base;
        f(&mut d);
        raw_conv1d_create(&d)
    };
    assert_eq!(with(&|d| d.struct_size = 88), Status::InvalidDescriptor);
    assert_eq!(with(&|d| d.magic = sys::FFC_PLAN_DESC_MAGIC), Status::InvalidDescriptor);
    assert_eq!(with(&|d| d.reserved[0] = 1), Status::InvalidDescriptor);
    assert_eq!(with(&|d| d.dtype = 5), Status::InvalidDtype);
    assert_eq!(with(&|d| d.backend = 7), Status::InvalidBackend);
    assert_eq!(with(&|d| d.layout = 2), Status::InvalidArgument);
    let mut raw: sys::ffc_conv1d_plan_t = core::ptr::null_mut();
    // SAFETY: a null descriptor is a documented error.
    assert_eq!(unsafe { sys::ffc_conv1d_plan_create(&mut raw, core::ptr::null()) }, sys::FFC_ERROR_NULL_POINTER);
    assert!(raw.is_null());
}

#[test]
fn conv1d_call_errors() {
    let plan = Conv1dPlan::new(&Conv1dDesc::new(5).dtype(DType::F32).backend(Backend::Cpu).padding(0, 0)).unwrap();
    // L < 1 and L_out < 1: the library's InvalidShape.
    for l in [0, 4] {
        let e = err(plan.output_length(l));
        assert_eq!(e.status, Status::InvalidShape, "L = {l}");
        assert!(!e.message.is_empty());
    }
    let e = err(plan.workspace_size(&Conv1dShape::new(0, 2, 10)));
    assert_eq!(e.status, Status::InvalidShape);
    let shape = Conv1dShape::new(1, 2, 10); // L_out = 6
    let (x, w) = (vec![0f32; 20], vec![0f32; 10]);
    let mut y = vec![0f32; 12];
    plan.forward(&shape, &x, &w, None, &mut y).unwrap();
    // slice lengths (the bindings' check, with the library's status)
    let e = err(plan.forward(&shape, &x[..19], &w, None, &mut y));
    assert_eq!(e.status, Status::InvalidShape);
    assert!(e.message.contains('x'), "{}", e.message);
    let e = err(plan.forward(&shape, &x, &w, None, &mut [0f32; 20]));
    assert_eq!(e.status, Status::InvalidShape);
    let e = err(plan.forward(&shape, &x, &w[..9], None, &mut y));
    assert_eq!(e.status, Status::InvalidShape);
    let e = err(plan.forward(&shape, &x, &w, Some(&[0f32; 3]), &mut y));
    assert_eq!(e.status, Status::InvalidShape);
    // element type
    let (xh, mut yh) = (vec![F16::default(); 20], vec![F16::default(); 12]);
    let e = err(plan.forward(&shape, &xh, &w, None, &mut yh));
    assert_eq!(e.status, Status::InvalidDtype);
    // Through raw pointers, the library's own checks: NULL x, overlap, misalignment.
    let mut ws = vec![0u8; plan.workspace_size(&shape).unwrap().max(1)];
    let wsp = ws.as_mut_ptr().cast();
    let wsl = ws.len();
    let null: flashfftconv::sys::ffc_stream_t = core::ptr::null_mut();
    // SAFETY: host buffers at least as large as the shape needs; the calls fail before writing.
    unsafe {
        let e = err(plan.forward_raw(
            &shape,
            core::ptr::null(),
            w.as_ptr(),
            core::ptr::null(),
            y.as_mut_ptr().cast(),
            wsp,
            wsl,
            null,
        ));
        assert_eq!(e.status, Status::NullPointer);
        let mut buf = vec![1f32; 40];
        let before = buf.clone();
        let p = buf.as_mut_ptr();
        let e = err(plan.forward_raw(&shape, p.cast(), w.as_ptr(), core::ptr::null(), p.add(5).cast(), wsp, wsl, null));
        assert_eq!(e.status, Status::InvalidArgument);
        assert_eq!(buf, before, "a failed call wrote its output");
        let words = [0f32; 30]; // 4-byte aligned: 2 bytes in is misaligned for f32
        let e = err(plan.forward_raw(
            &shape,
            words.as_ptr().cast::<u8>().add(2).cast(),
            w.as_ptr(),
            core::ptr::null(),
            y.as_mut_ptr().cast(),
            wsp,
            wsl,
            null,
        ));
        assert_eq!(e.status, Status::MisalignedPointer);
        // backward: dweight wanted without x
        let mut dw = vec![0f32; 10];
        let e = err(plan.backward_raw(
            &shape,
            y.as_ptr().cast(),
            core::ptr::null(),
            w.as_ptr(),
            core::ptr::null_mut(),
            dw.as_mut_ptr(),
            core::ptr::null_mut(),
            wsp,
            wsl,
            null,
        ));
        assert_eq!(e.status, Status::NullPointer);
    }
}

// =========================================================================================
// Frequency-sparse plans (freq_mask, library 0.4): the filter's spectrum masked
// =========================================================================================

use flashfftconv::freq_block_mask;

/// x ↦ IDFT_N(M · DFT_N(x)) for a real x of length N, M[f] = mask[f mod G] ≠ 0,
/// by the direct O(N²) DFT in f64. With a symmetric mask the result is real, and
/// the map is symmetric: it is both the masked filter k' = P k and, applied to
/// the gradient with respect to k', the gradient with respect to k.
fn mask_projection(x: &[f64], mask: &[u8]) -> Vec<f64> {
    let n = x.len();
    let g = mask.len();
    let (cos, sin): (Vec<f64>, Vec<f64>) = (0..n)
        .map(|i| {
            let a = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            (a.cos(), a.sin())
        })
        .unzip();
    let mut out = vec![0.0; n];
    for f in 0..n {
        if mask[f % g] == 0 {
            continue;
        }
        // X[f] = Σ_t x[t] e^{−2πi f t / N}
        let (mut re, mut im) = (0.0, 0.0);
        for (t, &xt) in x.iter().enumerate() {
            let i = f * t % n;
            re += xt * cos[i];
            im -= xt * sin[i];
        }
        // out[t] += Re(X[f] e^{+2πi f t / N}) / N
        for (t, o) in out.iter_mut().enumerate() {
            let i = f * t % n;
            *o += (re * cos[i] - im * sin[i]) / n as f64;
        }
    }
    out
}

/// The plain problem of the masked one: kernel k' = P k of length N per channel
/// (k zero-padded to N), same u and gates. Its forward is the masked forward; its
/// du, d_in_gate, d_out_gate are the masked ones, and its dk (length N) projected
/// by P and cut to K is the masked dk.
fn masked_equivalent(p: &Problem, mask: &[u8]) -> Problem {
    let (_, h, _, kl) = p.dims();
    let n = p.n;
    let mut k = vec![0.0; h * n];
    for c in 0..h {
        let mut padded = vec![0.0; n];
        padded[..kl].copy_from_slice(&p.k[c * kl..(c + 1) * kl]);
        k[c * n..(c + 1) * n].copy_from_slice(&mask_projection(&padded, mask));
    }
    let s = p.shape;
    Problem {
        shape: Shape::new(s.batch, s.channels, s.seq_len, n as i64),
        n,
        u: p.u.clone(),
        k,
        ig: p.ig.clone(),
        og: p.og.clone(),
    }
}

fn masked_backward_ref(p: &Problem, mask: &[u8], dy: &[f64]) -> RefGrads {
    let (_, h, _, kl) = p.dims();
    let n = p.n;
    let (du, dk_full, dig, dog) = masked_equivalent(p, mask).backward(dy);
    let mut dk = vec![0.0; h * kl];
    for c in 0..h {
        let proj = mask_projection(&dk_full[c * n..(c + 1) * n], mask);
        dk[c * kl..(c + 1) * kl].copy_from_slice(&proj[..kl]);
    }
    (du, dk, dig, dog)
}

#[test]
fn mask_reference_checks() {
    // P with the all-ones mask is the identity; with a symmetric mask P x is real
    // (here: P is idempotent and symmetric); the masked forward with [1] is the plain one.
    let mut r = Rng(3);
    let x = r.vec(64, 1.0);
    let id = mask_projection(&x, &[1]);
    assert!(rel_l2(&id, &x) < 1e-13);
    let m = [1u8, 0, 1, 1, 0, 1, 1, 0];
    let px = mask_projection(&x, &m);
    assert!(rel_l2(&mask_projection(&px, &m), &px) < 1e-12);
    let y = r.vec(64, 1.0);
    let py = mask_projection(&y, &m);
    let (a, b): (f64, f64) = (px.iter().zip(&y).map(|(p, q)| p * q).sum(), x.iter().zip(&py).map(|(p, q)| p * q).sum());
    assert!((a - b).abs() < 1e-10 * a.abs().max(1.0));
    let p = Problem::new(2, 2, 40, 9, 64, true, 4);
    assert!(rel_l2(&masked_equivalent(&p, &[1]).forward(), &p.forward()) < 1e-12);
}

/// Forward and all four gradients of a masked plan against the f64 references,
/// under the same precision rule as the plain plans.
fn check_masked<T: Conv>(dtype: DType, dims: (i64, i64, i64, i64, u64), mask: &[u8], seed: u64) {
    let (b, h, l, kl, n) = dims;
    let plan = Plan::new(&cpu_desc(n, dtype).frequency_mask(mask)).expect("masked plan");
    let mut p = Problem::new(b, h, l, kl, n as usize, true, seed);
    p.round::<T>();
    let x = p.operands::<T>();
    let what = format!("{dtype:?} B={b} L={l} K={kl} N={n} G={}", mask.len());
    let m = p.shape.signal_len();
    let mut y = vec![T::default(); m];
    plan.forward(&p.shape, &x.u, &x.k, x.ig.as_deref(), x.og.as_deref(), &mut y).unwrap();
    let r = masked_equivalent(&p, mask).forward();
    let (err, tol) = (rel_l2(&back(&y), &r), tolerance::<T>(&r));
    assert!(err <= tol, "{what} y: err {err:.3e} > tol {tol:.3e}");

    let dy64: Vec<f64> = Rng(seed + 1).vec(m, 1.0).iter().map(|&v| T::from_f64(v).to_f64()).collect();
    let dy: Vec<T> = to(&dy64);
    let (mut du, mut dig, mut dog) = (vec![T::default(); m], vec![T::default(); m], vec![T::default(); m]);
    let mut dk = vec![0f32; p.shape.kernel_elements()];
    plan.backward(
        &p.shape,
        &dy,
        &x.u,
        &x.k,
        x.ig.as_deref(),
        x.og.as_deref(),
        Gradients { du: Some(&mut du), dk: Some(&mut dk), d_in_gate: Some(&mut dig), d_out_gate: Some(&mut dog) },
    )
    .unwrap();
    let (rdu, rdk, rdig, rdog) = masked_backward_ref(&p, mask, &dy64);
    let (rdig, rdog) = (rdig.unwrap(), rdog.unwrap());
    let dk64: Vec<f64> = dk.iter().map(|&v| v as f64).collect();
    for (name, got, want, tol) in [
        ("du", back(&du), &rdu, tolerance::<T>(&rdu)),
        ("dk", dk64, &rdk, tolerance::<f32>(&rdk)),
        ("d_in_gate", back(&dig), &rdig, tolerance::<T>(&rdig)),
        ("d_out_gate", back(&dog), &rdog, tolerance::<T>(&rdog)),
    ] {
        let err = rel_l2(&got, want);
        assert!(err <= tol, "{what} {name}: err {err:.3e} > tol {tol:.3e}");
    }
}

fn masks_256() -> Vec<Vec<u8>> {
    vec![
        freq_block_mask(16, 4).unwrap(),
        freq_block_mask(256, 20).unwrap(), // a low-pass of all N bins
        vec![1],
        vec![1, 0], // even bins only
        vec![1, 0, 1, 1, 0, 1, 1, 0],
    ]
}

fn run_masked<T: Conv>(dtype: DType) {
    // (B, H, L, K, N): causal with odd B, and circular (L = N) with K = N.
    for (i, mask) in masks_256().iter().enumerate() {
        check_masked::<T>(dtype, (3, 2, 200, 57, 256), mask, 10 + i as u64);
        check_masked::<T>(dtype, (1, 2, 256, 256, 256), mask, 20 + i as u64);
    }
}

#[test]
fn masked_forward_backward_f32() {
    run_masked::<f32>(DType::F32);
}

#[test]
fn masked_forward_backward_f16() {
    run_masked::<F16>(DType::F16);
}

#[test]
fn masked_forward_backward_bf16() {
    run_masked::<Bf16>(DType::Bf16);
}

#[test]
fn masked_spectrum_path() {
    let mask = freq_block_mask(16, 3).unwrap();
    let plan = Plan::new(&cpu_desc(256, DType::F32).frequency_mask(&mask)).unwrap();
    let mut p = Problem::new(3, 2, 200, 57, 256, true, 30);
    p.round::<f32>();
    let (y, _) = forward_with_spectrum(&plan, &p);
    let r = masked_equivalent(&p, &mask).forward();
    assert!(rel_l2(&back(&y), &r) <= tolerance::<f32>(&r));
}

#[test]
fn freq_block_mask_values_and_errors() {
    assert_eq!(freq_block_mask(16, 4).unwrap(), [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
    assert_eq!(freq_block_mask(1, 1).unwrap(), [1]);
    assert_eq!(freq_block_mask(2, 1).unwrap(), [1, 0]);
    assert_eq!(freq_block_mask(8, 5).unwrap(), [1; 8]);
    for g in [1usize, 2, 4, 8, 64] {
        for kept in 1..=g / 2 + 1 {
            let m = freq_block_mask(g, kept).unwrap();
            assert!((0..g).all(|j| m[j] == m[(g - j) % g]), "G={g} kept={kept}");
            assert_eq!(m.iter().map(|&v| v as usize).sum::<usize>(), (2 * kept - 1).min(g));
        }
    }
    for (g, kept) in [(0, 1), (3, 1), (12, 2), (16, 0), (16, 10), (1, 2)] {
        assert_eq!(err(freq_block_mask(g, kept)).status, Status::InvalidArgument, "G={g} kept={kept}");
    }
}

#[test]
fn frequency_mask_builder_owns_its_bytes() {
    let mask = freq_block_mask(16, 4).unwrap();
    let desc = PlanDesc::new(1024).frequency_mask(&mask);
    assert_eq!(desc.freq_mask(), Some(&mask[..]));
    assert_eq!(desc.as_raw().freq_mask_len, 16);
    assert_eq!(desc.as_raw().version, 3);
    assert_ne!(desc.as_raw().freq_mask, mask.as_ptr());
    let copy = desc.clone();
    assert_ne!(copy.as_raw().freq_mask, desc.as_raw().freq_mask);
    drop(desc);
    // SAFETY: the pointer refers to `copy`'s own 16 bytes.
    let bytes = unsafe { core::slice::from_raw_parts(copy.as_raw().freq_mask, 16) };
    assert_eq!(bytes, &mask[..]);
    // An empty mask is none (the dense convolution), as in the C++ wrapper.
    let cleared = copy.clone().frequency_mask(&[]);
    assert!(cleared.as_raw().freq_mask.is_null() && cleared.as_raw().freq_mask_len == 0);
    assert!(cleared.freq_mask().is_none());
    assert!(PlanDesc::new(1024).as_raw().freq_mask.is_null());
    // The plan does not need the descriptor's bytes after creation.
    let mut p = Problem::new(1, 2, 100, 20, 256, false, 31);
    p.round::<f32>();
    let x = p.operands::<f32>();
    let plan = {
        let d = cpu_desc(256, DType::F32).frequency_mask(&mask);
        Plan::new(&d).unwrap()
    };
    let mut y = vec![0f32; p.shape.signal_len()];
    plan.forward(&p.shape, &x.u, &x.k, None, None, &mut y).unwrap();
    let r = masked_equivalent(&p, &mask).forward();
    assert!(rel_l2(&back(&y), &r) <= tolerance::<f32>(&r));
}

#[test]
fn frequency_mask_errors() {
    // Asymmetric (j = 1 kept, j = 3 not; j = 6 kept, j = 2 not), G not a power of
    // two, G > N = 256: all InvalidArgument.
    let cases: [&[u8]; 5] = [&[1, 1, 0, 0], &[0, 0, 0, 0, 0, 0, 1, 0], &[1; 6], &[1; 3], &[1; 512]];
    for mask in cases {
        let e = err(Plan::new(&cpu_desc(256, DType::F32).frequency_mask(mask)));
        assert_eq!(e.status, Status::InvalidArgument, "G={} {mask:?}", mask.len());
        assert!(!e.message.is_empty());
    }
    // G = N is the longest accepted.
    assert!(Plan::new(&cpu_desc(256, DType::F32).frequency_mask(&[1; 256])).is_ok());
    // Not combinable with a partial plan.
    let e = err(Plan::new(&cpu_desc(256, DType::F32).partial(true).frequency_mask(&[1])));
    assert_eq!(e.status, Status::NotSupported);
}

#[test]
fn version_2_descriptor_reserves_the_mask_slots() {
    use flashfftconv::sys;
    let mask = [1u8, 0];
    for version in [1u32, 2] {
        let mut d = sys::ffc_plan_desc_t::init();
        d.version = version;
        d.fft_size = 1024;
        d.dtype = sys::FFC_DTYPE_FP32;
        d.backend = sys::FFC_BACKEND_CPU;
        let mut raw: sys::ffc_plan_t = core::ptr::null_mut();
        // SAFETY: valid pointers; a created plan is owned by the Plan below.
        assert_eq!(unsafe { sys::ffc_plan_create(&mut raw, &d) }, sys::FFC_SUCCESS);
        // SAFETY: `raw` came from ffc_plan_create and is owned by nobody else.
        drop(unsafe { Plan::from_raw(raw) }.unwrap());
        d.freq_mask = mask.as_ptr();
        d.freq_mask_len = 2;
        let mut raw: sys::ffc_plan_t = core::ptr::null_mut();
        // SAFETY: as above; `mask` outlives the call.
        assert_eq!(unsafe { sys::ffc_plan_create(&mut raw, &d) }, sys::FFC_ERROR_INVALID_DESCRIPTOR, "v{version}");
        assert!(raw.is_null());
    }
}
