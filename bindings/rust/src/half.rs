//! 16-bit element types for host slices: `F16` (IEEE binary16) and `Bf16`
//! (bfloat16), stored as their bit patterns with round-to-nearest-even
//! conversions from `f32`. Small on purpose: the crate has no dependencies.

/// An IEEE 754 binary16 value, stored as its bits.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct F16(pub u16);

/// A bfloat16 value (the upper half of an f32), stored as its bits.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bf16(pub u16);

impl F16 {
    /// Rounds `x` to the nearest binary16 value (ties to even); overflow gives ±inf.
    pub fn from_f32(x: f32) -> F16 {
        let b = x.to_bits();
        let sign = ((b >> 16) & 0x8000) as u16;
        let exp = ((b >> 23) & 0xff) as i32;
        let man = b & 0x7f_ffff;
        if exp == 0xff {
            // inf stays inf; NaN keeps its top payload bits and is forced quiet
            return F16(sign | 0x7c00 | if man != 0 { 0x200 | (man >> 13) as u16 } else { 0 });
        }
        let e = exp - 127 + 15; // binary16 biased exponent
        if e >= 0x1f {
            return F16(sign | 0x7c00);
        }
        // (q, rem, half): the truncated result, the dropped bits, and half an ulp.
        let (q, rem, half) = if e <= 0 {
            // Subnormal result: value / 2^-24 = (1.man) * 2^(e - 14) with the implicit bit.
            let shift = (14 - e) as u32;
            if shift > 24 {
                return F16(sign); // below half the smallest subnormal
            }
            let m = man | 0x80_0000;
            (m >> shift, m & ((1 << shift) - 1), 1u32 << (shift - 1))
        } else {
            (((e as u32) << 10) | (man >> 13), man & 0x1fff, 0x1000)
        };
        // A carry out of the mantissa correctly bumps the exponent (up to inf).
        let q = if rem > half || (rem == half && (q & 1) == 1) { q + 1 } else { q };
        F16(sign | q as u16)
    }

    /// The exact `f32` value.
    pub fn to_f32(self) -> f32 {
        let h = self.0 as u32;
        let sign = (h & 0x8000) << 16;
        let exp = (h >> 10) & 0x1f;
        let man = h & 0x3ff;
        let bits = match exp {
            0 if man == 0 => sign,
            0 => {
                // subnormal: man * 2^-24, exact in f32
                let v = man as f32 * f32::from_bits(0x3380_0000);
                sign | v.to_bits()
            }
            0x1f => sign | 0x7f80_0000 | (man << 13),
            _ => sign | ((exp + 112) << 23) | (man << 13),
        };
        f32::from_bits(bits)
    }

    /// The raw bits.
    pub fn to_bits(self) -> u16 {
        self.0
    }

    /// From raw bits.
    pub fn from_bits(bits: u16) -> F16 {
        F16(bits)
    }
}

impl Bf16 {
    /// Rounds `x` to the nearest bfloat16 value (ties to even); NaN stays NaN.
    pub fn from_f32(x: f32) -> Bf16 {
        let b = x.to_bits();
        if x.is_nan() {
            return Bf16(((b >> 16) as u16) | 0x40); // quiet, never rounds into inf
        }
        let round = 0x7fff + ((b >> 16) & 1);
        Bf16((b.wrapping_add(round) >> 16) as u16)
    }

    /// The exact `f32` value.
    pub fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }

    /// The raw bits.
    pub fn to_bits(self) -> u16 {
        self.0
    }

    /// From raw bits.
    pub fn from_bits(bits: u16) -> Bf16 {
        Bf16(bits)
    }
}

impl From<f32> for F16 {
    fn from(x: f32) -> F16 {
        F16::from_f32(x)
    }
}
impl From<F16> for f32 {
    fn from(x: F16) -> f32 {
        x.to_f32()
    }
}
impl From<f32> for Bf16 {
    fn from(x: f32) -> Bf16 {
        Bf16::from_f32(x)
    }
}
impl From<Bf16> for f32 {
    fn from(x: Bf16) -> f32 {
        x.to_f32()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trips_every_non_nan_pattern() {
        for bits in 0..=u16::MAX {
            let h = F16(bits);
            let f = h.to_f32();
            if f.is_nan() {
                assert!(F16::from_f32(f).to_f32().is_nan());
            } else {
                assert_eq!(F16::from_f32(f), h, "bits {bits:#06x} -> {f}");
            }
        }
    }

    #[test]
    fn f16_rounding() {
        assert_eq!(F16::from_f32(1.0).0, 0x3c00);
        assert_eq!(F16::from_f32(-2.5).0, 0xc100);
        assert_eq!(F16::from_f32(65504.0).0, 0x7bff);
        assert_eq!(F16::from_f32(65520.0).0, 0x7c00); // halfway to the next binade: ties to even = inf
        assert_eq!(F16::from_f32(1e-8).0, 0x0000);
        assert_eq!(F16::from_f32(2.0f32.powi(-24)).0, 0x0001);
        assert_eq!(F16::from_f32(2.0f32.powi(-25)).0, 0x0000); // tie -> even (0)
        assert_eq!(F16::from_f32(1.5 * 2.0f32.powi(-25)).0, 0x0001);
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0)
        assert_eq!(F16::from_f32(1.0 + 2.0f32.powi(-11)).0, 0x3c00);
        assert_eq!(F16::from_f32(1.0 + 3.0 * 2.0f32.powi(-11)).0, 0x3c02);
    }

    #[test]
    fn f16_matches_f64_nearest_on_a_sweep() {
        // Nearest-value check against a brute-force search over neighbours.
        let mut x = -70000.0f32;
        while x < 70000.0 {
            let h = F16::from_f32(x);
            let err = (h.to_f32() as f64 - x as f64).abs();
            if h.to_f32().is_finite() {
                for n in [h.0.wrapping_sub(1), h.0.wrapping_add(1)] {
                    let v = F16(n).to_f32();
                    if v.is_finite() && (v.is_sign_negative() == h.to_f32().is_sign_negative()) {
                        assert!(err <= (v as f64 - x as f64).abs(), "{x}");
                    }
                }
            }
            x += 1.37;
        }
    }

    #[test]
    fn bf16_rounding() {
        assert_eq!(Bf16::from_f32(1.0).0, 0x3f80);
        assert_eq!(Bf16::from_f32(-3.0).to_f32(), -3.0);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even
        assert_eq!(Bf16::from_f32(1.0 + 2.0f32.powi(-8)).0, 0x3f80);
        assert_eq!(Bf16::from_f32(1.0 + 3.0 * 2.0f32.powi(-8)).0, 0x3f82);
        assert!(Bf16::from_f32(f32::NAN).to_f32().is_nan());
        assert_eq!(Bf16::from_f32(f32::INFINITY).to_f32(), f32::INFINITY);
        for bits in 0..=u16::MAX {
            let b = Bf16(bits);
            if !b.to_f32().is_nan() {
                assert_eq!(Bf16::from_f32(b.to_f32()), b);
            }
        }
    }
}
