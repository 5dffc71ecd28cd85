//! A gated causal convolution on the CPU backend, checked against a direct
//! convolution. Run from bindings/rust with
//! `FLASHFFTCONV_LIB_DIR=/path/to/build cargo run --example gated_causal`.
use flashfftconv::{Backend, DType, Gradients, Plan, PlanDesc, Shape};

fn main() -> Result<(), flashfftconv::Error> {
    let (b, h, l) = (2usize, 4usize, 1000usize);
    // N = 2048 >= L + K - 1, so the circular convolution of size N is the causal one.
    let plan = Plan::new(&PlanDesc::new(2048).dtype(DType::F32).backend(Backend::Cpu))?;
    println!("libflashfftconv {}: {}", flashfftconv::version_string(), flashfftconv::build_info());
    println!("{}", plan.describe()?);

    let shape = Shape::new(b as i64, h as i64, l as i64, l as i64);
    let wave = |i: usize, f: f32| (i as f32 * f).sin();
    let u: Vec<f32> = (0..b * h * l).map(|i| wave(i, 0.01)).collect();
    let in_gate: Vec<f32> = (0..b * h * l).map(|i| 1.0 + 0.5 * wave(i, 0.003)).collect();
    let out_gate: Vec<f32> = (0..b * h * l).map(|i| 0.5 + 0.5 * wave(i, 0.007).abs()).collect();
    // A decaying filter per channel, as in Hyena-style long convolutions.
    let k: Vec<f32> = (0..h * l).map(|i| (-((i % l) as f32) / (50.0 * (1 + i / l) as f32)).exp() / 20.0).collect();

    let mut y = vec![0f32; b * h * l];
    plan.forward(&shape, &u, &k, Some(&in_gate), Some(&out_gate), &mut y)?;

    // Direct causal convolution for one (batch, channel) row.
    let (bi, hi) = (1, 2);
    let row = (bi * h + hi) * l;
    let mut max_err = 0f64;
    for t in 0..l {
        let mut z = 0f64;
        for s in 0..=t {
            z += k[hi * l + s] as f64 * (in_gate[row + t - s] as f64 * u[row + t - s] as f64);
        }
        max_err = max_err.max((out_gate[row + t] as f64 * z - y[row + t] as f64).abs());
    }
    println!("y[{bi},{hi},0..4] = {:?}", &y[row..row + 4]);
    println!("max |y - direct| on that row: {max_err:.2e}");
    assert!(max_err < 1e-4, "mismatch against the direct convolution");

    // Gradient of sum(y) with respect to k.
    let dy = vec![1f32; b * h * l];
    let mut dk = vec![0f32; h * l];
    plan.backward(
        &shape,
        &dy,
        &u,
        &k,
        Some(&in_gate),
        Some(&out_gate),
        Gradients { dk: Some(&mut dk), ..Default::default() },
    )?;
    println!("dk[0,0..4] = {:?}", &dk[..4]);
    println!("ok");
    Ok(())
}
