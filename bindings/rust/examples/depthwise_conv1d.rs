//! A short depthwise convolution (PyTorch's `nn.Conv1d(H, H, 4, groups=H)`,
//! causal) on the CPU backend, on (B, L, H) activations, checked against the
//! direct formula, then its gradients. Run from bindings/rust with
//! `FLASHFFTCONV_LIB_DIR=/path/to/build cargo run --example depthwise_conv1d`.
use flashfftconv::{Backend, Conv1dDesc, Conv1dGradients, Conv1dPlan, Conv1dShape, DType, Layout};

fn main() -> Result<(), flashfftconv::Error> {
    let (b, l, h, k) = (2usize, 1000usize, 16usize, 4usize);
    let plan = Conv1dPlan::new(
        &Conv1dDesc::new(k as i32).dtype(DType::F32).backend(Backend::Cpu).layout(Layout::Blh).causal(),
    )?;
    println!("{plan:?}");
    let shape = Conv1dShape::new(b as i64, h as i64, l as i64);
    let x: Vec<f32> = (0..b * l * h).map(|i| (i as f32 * 0.013).sin()).collect();
    let w: Vec<f32> = (0..h * k).map(|i| 0.5 - (i % k) as f32 / k as f32).collect();
    let bias: Vec<f32> = (0..h).map(|c| c as f32 * 0.01).collect();
    let mut y = vec![0f32; plan.output_elements(&shape)?];
    plan.forward(&shape, &x, &w, Some(&bias), &mut y)?;

    // y[b,t,c] = bias[c] + Σ_j w[c,j] x[b, t + j − (K − 1), c]   (layout (B, L, H))
    let mut max_err = 0f64;
    for bi in 0..b {
        for t in 0..l {
            for c in 0..h {
                let mut acc = bias[c] as f64;
                for j in 0..k {
                    if let Some(s) = (t + j).checked_sub(k - 1) {
                        acc += w[c * k + j] as f64 * x[(bi * l + s) * h + c] as f64;
                    }
                }
                max_err = max_err.max((acc - y[(bi * l + t) * h + c] as f64).abs());
            }
        }
    }
    println!("max |y - direct| = {max_err:.2e}");
    assert!(max_err < 1e-5, "mismatch against the direct formula");

    // Gradients of sum(y).
    let dy = vec![1f32; y.len()];
    let (mut dw, mut db) = (vec![0f32; h * k], vec![0f32; h]);
    plan.backward(&shape, &dy, &x, &w, Conv1dGradients { dweight: Some(&mut dw), dbias: Some(&mut db), dx: None })?;
    println!("dweight[0,..] = {:?}, dbias[0] = {} (= B·L = {})", &dw[..k], db[0], b * l);
    assert_eq!(db[0] as usize, b * l);
    println!("ok");
    Ok(())
}
