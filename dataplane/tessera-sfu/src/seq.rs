//! Sequence-number arithmetic: 16-bit RTP sequence numbers extended to 64 bits (RFC 3550
//! Appendix A.1), tolerant of reordering and wrap-around.

/// Extends 16-bit sequence numbers to a monotonic 64-bit space.
#[derive(Clone, Copy, Debug, Default)]
pub struct SeqUnwrapper {
    last: Option<u64>,
}

impl SeqUnwrapper {
    /// The extended value of `seq`, choosing the candidate closest to the last one seen.
    pub fn unwrap(&mut self, seq: u16) -> u64 {
        let ext = match self.last {
            None => (1u64 << 16) | seq as u64,
            Some(last) => {
                let base = last & !0xffff;
                let cands = [
                    base.wrapping_sub(1 << 16) | seq as u64,
                    base | seq as u64,
                    (base + (1 << 16)) | seq as u64,
                ];
                *cands
                    .iter()
                    .min_by_key(|c| c.abs_diff(last))
                    .expect("three candidates")
            }
        };
        if self.last.is_none_or(|l| ext > l) {
            self.last = Some(ext);
        }
        ext
    }

    /// The highest extended sequence number seen.
    pub fn highest(&self) -> Option<u64> {
        self.last
    }
}

/// `a` is after `b` in 16-bit wrapping order.
pub fn seq_after(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwraps_across_wrap_and_reordering() {
        let mut u = SeqUnwrapper::default();
        let a = u.unwrap(65534);
        let b = u.unwrap(65535);
        let c = u.unwrap(1);
        let d = u.unwrap(0);
        assert_eq!((b - a, c - b, c - d), (1, 2, 1));
        assert_eq!(u.highest(), Some(c));
        assert!(seq_after(1, 65535));
        assert!(!seq_after(65535, 1));
    }
}
