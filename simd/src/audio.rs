//! Audio mixing for the MCU's audio mixer (OWT spec §5.10): the sum of N streams with per-stream
//! gain and saturation, mix-minus (the total without one participant) without re-summing, and
//! the RFC 6464 level used for voice activity.
//!
//! Frames are whatever length the caller uses (at 48 kHz: 480 samples per 10 ms, 960 per 20 ms,
//! twice that for interleaved stereo; gains are per stream so interleaving is transparent).
//! Nothing here allocates except [`MixMinusI16::new`] and [`MixMinusF32::new`].

use crate::{Error, Kernels};

/// Most inputs one mix accepts: each `i16` term is below 2^16 in magnitude, so 32767 of them
/// cannot overflow the `i32` accumulator.
pub const MAX_INPUTS: usize = 32767;

/// A stream's gain for `i16` mixing, in Q14 fixed point: 16384 is unity, the range is
/// `[-2, 2)`. A sample's contribution is `(x · g + 2^13) >> 14`, exactly `x` at unity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gain(i16);

impl Gain {
    /// Unity gain (0 dB).
    pub const UNITY: Gain = Gain(1 << 14);
    /// Silence.
    pub const MUTE: Gain = Gain(0);

    /// A gain from its Q14 value.
    pub const fn from_q14(q14: i16) -> Gain {
        Gain(q14)
    }

    /// The nearest Q14 gain to a linear factor, saturated to `[-2, 2)`; NaN becomes mute.
    pub fn from_linear(factor: f32) -> Gain {
        if factor.is_nan() {
            return Gain::MUTE;
        }
        Gain((factor * 16384.0).round().clamp(-32768.0, 32767.0) as i16)
    }

    /// The Q14 value.
    pub const fn q14(self) -> i16 {
        self.0
    }

    /// The linear factor.
    pub fn linear(self) -> f32 {
        f32::from(self.0) / 16384.0
    }
}

impl Default for Gain {
    fn default() -> Self {
        Gain::UNITY
    }
}

fn check_inputs<T>(inputs: &[&[T]], gains: usize, len: usize) -> Result<(), Error> {
    if inputs.len() > MAX_INPUTS {
        return Err(Error::TooManyInputs {
            count: inputs.len(),
            max: MAX_INPUTS,
        });
    }
    if gains != inputs.len() {
        return Err(Error::LengthMismatch {
            what: "gains",
            len: gains,
            expected: inputs.len(),
        });
    }
    for input in inputs {
        if input.len() != len {
            return Err(Error::LengthMismatch {
                what: "input",
                len: input.len(),
                expected: len,
            });
        }
    }
    Ok(())
}

fn check_len(what: &'static str, len: usize, expected: usize) -> Result<(), Error> {
    if len == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            len,
            expected,
        })
    }
}

/// Samples per stack-allocated accumulator chunk in the one-shot mixers.
const CHUNK: usize = 1024;

/// Level for an all-zero (or empty) frame: 127, digital silence (RFC 6464 §3).
const SILENCE: u8 = 127;

/// `round(-10·log10(mean_square))` clamped to `0..=127`; `mean_square` relative to full scale.
fn level_from_mean_square(ms: f64) -> u8 {
    if ms.is_nan() || ms <= 0.0 {
        return SILENCE;
    }
    (-10.0 * ms.log10()).round().clamp(0.0, 127.0) as u8
}

impl Kernels {
    /// `out = saturate_i16(Σ (inputs[i] · gains[i] + 2^13) >> 14)`. Every input must have
    /// `out.len()` samples; no inputs gives silence.
    pub fn mix_i16(&self, inputs: &[&[i16]], gains: &[Gain], out: &mut [i16]) -> Result<(), Error> {
        check_inputs(inputs, gains.len(), out.len())?;
        let mut acc = [0i32; CHUNK];
        for (c, chunk) in out.chunks_mut(CHUNK).enumerate() {
            let (lo, acc) = (c * CHUNK, &mut acc[..chunk.len()]);
            acc.fill(0);
            for (input, g) in inputs.iter().zip(gains) {
                (self.mix_acc_i16)(acc, &input[lo..lo + chunk.len()], g.0);
            }
            (self.mix_store_i16)(acc, chunk);
        }
        Ok(())
    }

    /// `out = clamp(Σ inputs[i] · gains[i], -1, 1)`, summed in input order (multiply, then
    /// add). NaN sums become -1.
    pub fn mix_f32(&self, inputs: &[&[f32]], gains: &[f32], out: &mut [f32]) -> Result<(), Error> {
        check_inputs(inputs, gains.len(), out.len())?;
        let mut acc = [0f32; CHUNK];
        for (c, chunk) in out.chunks_mut(CHUNK).enumerate() {
            let (lo, acc) = (c * CHUNK, &mut acc[..chunk.len()]);
            acc.fill(0.0);
            for (input, &g) in inputs.iter().zip(gains) {
                (self.mix_acc_f32)(acc, &input[lo..lo + chunk.len()], g);
            }
            (self.mix_store_f32)(acc, chunk);
        }
        Ok(())
    }

    /// `Σ x²` of a frame, exactly (the energy a VAD ranks inputs by).
    pub fn sum_squares_i16(&self, samples: &[i16]) -> u64 {
        (self.sumsq_i16)(samples)
    }

    /// `Σ x²` of a frame in `f64`, accumulated in the fixed order `arch/scalar.rs` defines, so
    /// every instruction set returns the same bits.
    pub fn sum_squares_f32(&self, samples: &[f32]) -> f64 {
        (self.sumsq_f32)(samples)
    }

    /// The RFC 6464 audio level of a frame of 16-bit samples, as the header extension carries
    /// it: `round(-10·log10(Σx² / (N · 32768²)))` clamped to `0..=127`, 127 for silence.
    /// 0 dBov is the overload point, a full-scale square wave; a full-scale sine reads 3.
    pub fn level_dbov_i16(&self, samples: &[i16]) -> u8 {
        if samples.is_empty() {
            return SILENCE;
        }
        let ss = (self.sumsq_i16)(samples);
        level_from_mean_square(ss as f64 / (samples.len() as f64 * 32768.0 * 32768.0))
    }

    /// The same for `f32` samples with full scale ±1.0. Non-finite sums read as silence.
    pub fn level_dbov_f32(&self, samples: &[f32]) -> u8 {
        if samples.is_empty() {
            return SILENCE;
        }
        let ss = (self.sumsq_f32)(samples);
        if !ss.is_finite() {
            return SILENCE;
        }
        level_from_mean_square(ss / samples.len() as f64)
    }
}

/// [`Kernels::mix_i16`] with the kernels chosen at start-up.
pub fn mix_i16(inputs: &[&[i16]], gains: &[Gain], out: &mut [i16]) -> Result<(), Error> {
    Kernels::get().mix_i16(inputs, gains, out)
}

/// [`Kernels::mix_f32`] with the kernels chosen at start-up.
pub fn mix_f32(inputs: &[&[f32]], gains: &[f32], out: &mut [f32]) -> Result<(), Error> {
    Kernels::get().mix_f32(inputs, gains, out)
}

/// [`Kernels::level_dbov_i16`] with the kernels chosen at start-up.
pub fn level_dbov_i16(samples: &[i16]) -> u8 {
    Kernels::get().level_dbov_i16(samples)
}

/// [`Kernels::level_dbov_f32`] with the kernels chosen at start-up.
pub fn level_dbov_f32(samples: &[f32]) -> u8 {
    Kernels::get().level_dbov_f32(samples)
}

/// Mix-minus for `i16` streams: sum every input once into an `i32` total, then give each
/// participant `saturate(total − own term)`. The subtraction is exact, so each participant's
/// output equals mixing everyone else directly, at one pass per output instead of N.
#[derive(Debug)]
pub struct MixMinusI16 {
    kernels: &'static Kernels,
    total: Vec<i32>,
}

impl MixMinusI16 {
    /// A mixer for frames of `frame_len` samples, using the kernels chosen at start-up.
    pub fn new(frame_len: usize) -> Self {
        Self::with_kernels(Kernels::get(), frame_len)
    }

    /// The same, with an explicit kernel table.
    pub fn with_kernels(kernels: &'static Kernels, frame_len: usize) -> Self {
        MixMinusI16 {
            kernels,
            total: vec![0; frame_len],
        }
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.total.len()
    }

    /// Sum this frame's inputs (replacing the previous total).
    pub fn set_inputs(&mut self, inputs: &[&[i16]], gains: &[Gain]) -> Result<(), Error> {
        check_inputs(inputs, gains.len(), self.total.len())?;
        self.total.fill(0);
        for (input, g) in inputs.iter().zip(gains) {
            (self.kernels.mix_acc_i16)(&mut self.total, input, g.0);
        }
        Ok(())
    }

    /// The full mix (for listeners who contribute nothing, e.g. the room's common stream).
    pub fn write_total(&self, out: &mut [i16]) -> Result<(), Error> {
        check_len("output", out.len(), self.total.len())?;
        (self.kernels.mix_store_i16)(&self.total, out);
        Ok(())
    }

    /// The mix without one input: pass the same samples and gain that went into
    /// [`MixMinusI16::set_inputs`] for that participant.
    pub fn write_minus(&self, own: &[i16], own_gain: Gain, out: &mut [i16]) -> Result<(), Error> {
        check_len("own input", own.len(), self.total.len())?;
        check_len("output", out.len(), self.total.len())?;
        (self.kernels.mix_minus_i16)(&self.total, own, own_gain.0, out);
        Ok(())
    }
}

/// Mix-minus for `f32` streams: the total is summed once in input order; each participant
/// gets `clamp(total − own · gain, -1, 1)`. Unlike the integer version this is not bit-equal to
/// re-summing the others (float addition is not associative), but it is identical on every
/// instruction set.
#[derive(Debug)]
pub struct MixMinusF32 {
    kernels: &'static Kernels,
    total: Vec<f32>,
}

impl MixMinusF32 {
    /// A mixer for frames of `frame_len` samples, using the kernels chosen at start-up.
    pub fn new(frame_len: usize) -> Self {
        Self::with_kernels(Kernels::get(), frame_len)
    }

    /// The same, with an explicit kernel table.
    pub fn with_kernels(kernels: &'static Kernels, frame_len: usize) -> Self {
        MixMinusF32 {
            kernels,
            total: vec![0.0; frame_len],
        }
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.total.len()
    }

    /// Sum this frame's inputs (replacing the previous total).
    pub fn set_inputs(&mut self, inputs: &[&[f32]], gains: &[f32]) -> Result<(), Error> {
        check_inputs(inputs, gains.len(), self.total.len())?;
        self.total.fill(0.0);
        for (input, &g) in inputs.iter().zip(gains) {
            (self.kernels.mix_acc_f32)(&mut self.total, input, g);
        }
        Ok(())
    }

    /// The full mix.
    pub fn write_total(&self, out: &mut [f32]) -> Result<(), Error> {
        check_len("output", out.len(), self.total.len())?;
        (self.kernels.mix_store_f32)(&self.total, out);
        Ok(())
    }

    /// The mix without one input (same samples and gain as given to `set_inputs`).
    pub fn write_minus(&self, own: &[f32], own_gain: f32, out: &mut [f32]) -> Result<(), Error> {
        check_len("own input", own.len(), self.total.len())?;
        check_len("output", out.len(), self.total.len())?;
        (self.kernels.mix_minus_f32)(&self.total, own, own_gain, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6464_reference_levels() {
        let k = Kernels::scalar();
        assert_eq!(k.level_dbov_i16(&[0; 480]), 127);
        assert_eq!(k.level_dbov_i16(&[]), 127);
        // Full-scale square wave: 0 dBov.
        let square: Vec<i16> = (0..480)
            .map(|i| if i % 2 == 0 { i16::MIN } else { i16::MAX })
            .collect();
        assert_eq!(k.level_dbov_i16(&square), 0);
        // Full-scale sine: -3 dBov.
        let sine: Vec<i16> = (0..480)
            .map(|i| ((i as f64 * std::f64::consts::TAU * 1000.0 / 48000.0).sin() * 32767.0) as i16)
            .collect();
        assert_eq!(k.level_dbov_i16(&sine), 3);
        // A sine 20 dB down reads 23.
        let quiet: Vec<i16> = sine.iter().map(|&s| s / 10).collect();
        assert_eq!(k.level_dbov_i16(&quiet), 23);
        // One LSB of noise is far below -90 dBov.
        assert!(k.level_dbov_i16(&[1; 480]) >= 90);
        let f: Vec<f32> = sine.iter().map(|&s| f32::from(s) / 32768.0).collect();
        assert_eq!(k.level_dbov_f32(&f), 3);
        assert_eq!(k.level_dbov_f32(&[0.0; 10]), 127);
        assert_eq!(k.level_dbov_f32(&[f32::NAN; 10]), 127);
        assert_eq!(k.level_dbov_f32(&[4.0; 10]), 0);
    }

    #[test]
    fn gains() {
        assert_eq!(Gain::from_linear(1.0), Gain::UNITY);
        assert_eq!(Gain::from_linear(0.5).q14(), 8192);
        assert_eq!(Gain::from_linear(9.0).q14(), i16::MAX);
        assert_eq!(Gain::from_linear(f32::NAN), Gain::MUTE);
        assert_eq!(Gain::UNITY.linear(), 1.0);
    }

    #[test]
    fn mix_minus_equals_mixing_the_others() {
        let k = Kernels::scalar();
        let a: Vec<i16> = (0..480).map(|i| (i * 67 % 30000) as i16).collect();
        let b: Vec<i16> = (0..480).map(|i| -((i * 31 % 20000) as i16)).collect();
        let c: Vec<i16> = (0..480).map(|i| (i * 13 % 32767) as i16).collect();
        let g = [Gain::UNITY, Gain::from_linear(0.7), Gain::from_linear(1.9)];
        let mut mm = MixMinusI16::with_kernels(k, 480);
        mm.set_inputs(&[&a, &b, &c], &g).unwrap();
        let (mut direct, mut minus) = ([0i16; 480], [0i16; 480]);
        k.mix_i16(&[&a, &c], &[g[0], g[2]], &mut direct).unwrap();
        mm.write_minus(&b, g[1], &mut minus).unwrap();
        assert_eq!(direct, minus);
    }

    #[test]
    fn mismatched_lengths_are_errors() {
        let k = Kernels::scalar();
        let a = [0i16; 10];
        let mut out = [0i16; 11];
        assert!(matches!(
            k.mix_i16(&[&a], &[Gain::UNITY], &mut out),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(
            k.mix_i16(&[&a], &[], &mut out[..10]),
            Err(Error::LengthMismatch { .. })
        ));
    }
}
