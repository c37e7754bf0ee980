//! Receiver-side state of one incoming RTP stream: loss and jitter for receiver reports
//! (RFC 3550 §6.4.1, Appendix A.3 and A.8) and the list of packets to NACK (RFC 4585 §6.2.1).

use std::time::{Duration, Instant};

use crate::seq::SeqUnwrapper;

/// Statistics of one received SSRC.
#[derive(Debug)]
pub struct ReceiveStats {
    seq: SeqUnwrapper,
    base: Option<u64>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    clock_rate: u32,
    transit: Option<i64>,
    jitter: f64,
    /// Middle 32 bits of the NTP time of the last SR, and when it arrived.
    last_sr: Option<(u32, Instant)>,
}

/// One RR report block's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlock {
    /// Source SSRC.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed in the wire format).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub ext_highest_seq: u32,
    /// Interarrival jitter, in clock units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP time (0 if none).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s (0 if none).
    pub delay_since_last_sr: u32,
}

impl ReceiveStats {
    /// Statistics for a stream with this RTP clock rate.
    pub fn new(clock_rate: u32) -> ReceiveStats {
        ReceiveStats {
            seq: SeqUnwrapper::default(),
            base: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            clock_rate: clock_rate.max(1),
            transit: None,
            jitter: 0.0,
            last_sr: None,
        }
    }

    /// Records a packet; returns its extended sequence number.
    pub fn on_packet(&mut self, now: Instant, epoch: Instant, seq: u16, rtp_ts: u32) -> u64 {
        let ext = self.seq.unwrap(seq);
        if self.base.is_none_or(|b| ext < b) {
            self.base = Some(ext);
        }
        self.received += 1;
        let arrival =
            (now.saturating_duration_since(epoch).as_secs_f64() * self.clock_rate as f64) as i64;
        let transit = arrival - rtp_ts as i64;
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs() as f64;
            // Large jumps are timestamp discontinuities, not jitter.
            if d < self.clock_rate as f64 * 2.0 {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.transit = Some(transit);
        ext
    }

    /// Records a sender report's NTP time.
    pub fn on_sender_report(&mut self, now: Instant, ntp: u64) {
        self.last_sr = Some(((ntp >> 16) as u32, now));
    }

    /// Packets received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative packets lost: expected (from the lowest to the highest sequence number seen)
    /// minus received; negative with duplicates.
    pub fn lost(&self) -> i64 {
        match (self.base, self.seq.highest()) {
            (Some(b), Some(h)) => (h - b + 1) as i64 - self.received as i64,
            _ => 0,
        }
    }

    /// Interarrival jitter (RFC 3550 §6.4.1), in RTP timestamp units.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// Highest extended sequence number seen.
    pub fn highest(&self) -> Option<u64> {
        self.seq.highest()
    }

    /// The report block for an RR at `now`, and resets the interval counters.
    pub fn report(&mut self, ssrc: u32, now: Instant) -> Option<ReportBlock> {
        let (base, highest) = (self.base?, self.seq.highest()?);
        let expected = highest - base + 1;
        let lost = expected as i64 - self.received as i64;
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => (
                lsr,
                (now.saturating_duration_since(at).as_secs_f64() * 65536.0) as u32,
            ),
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: lost.clamp(-0x80_0000, 0x7f_ffff) as i32,
            ext_highest_seq: highest as u32,
            jitter: self.jitter as u32,
            last_sr,
            delay_since_last_sr,
        })
    }
}

/// Capacity of the NACK list: longer gaps are not repaired (a keyframe is cheaper).
pub const NACK_CAPACITY: usize = 256;
/// Retries per lost packet.
pub const NACK_RETRIES: u8 = 10;
/// A lost packet is given up after this long.
pub const NACK_GIVE_UP: Duration = Duration::from_millis(1000);

#[derive(Clone, Copy, Debug)]
struct Missing {
    seq: u64,
    since: Instant,
    next: Instant,
    tries: u8,
}

/// The packets of one stream that are missing and worth asking for again.
#[derive(Debug)]
pub struct NackTracker {
    missing: Vec<Missing>,
    highest: Option<u64>,
}

/// What [`NackTracker::on_packet`] noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapOutcome {
    /// In order, or a gap now tracked.
    Tracked,
    /// A gap too long to repair by NACK: ask for a keyframe instead.
    TooLong,
}

impl Default for NackTracker {
    fn default() -> Self {
        NackTracker {
            missing: Vec::with_capacity(NACK_CAPACITY),
            highest: None,
        }
    }
}

impl NackTracker {
    /// Records the arrival of `ext_seq`.
    pub fn on_packet(&mut self, now: Instant, ext_seq: u64) -> GapOutcome {
        if let Some(i) = self.missing.iter().position(|m| m.seq == ext_seq) {
            self.missing.swap_remove(i);
        }
        let Some(h) = self.highest else {
            self.highest = Some(ext_seq);
            return GapOutcome::Tracked;
        };
        if ext_seq <= h {
            return GapOutcome::Tracked;
        }
        self.highest = Some(ext_seq);
        let gap = ext_seq - h - 1;
        if gap == 0 {
            return GapOutcome::Tracked;
        }
        if gap as usize > NACK_CAPACITY / 2 {
            self.missing.clear();
            return GapOutcome::TooLong;
        }
        for s in h + 1..ext_seq {
            if self.missing.len() == NACK_CAPACITY {
                // Forget the oldest to make room.
                let oldest = self
                    .missing
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, m)| m.seq)
                    .map(|(i, _)| i)
                    .expect("full list");
                self.missing.swap_remove(oldest);
            }
            // First request after a short reordering allowance.
            self.missing.push(Missing {
                seq: s,
                since: now,
                next: now + Duration::from_millis(5),
                tries: 0,
            });
        }
        GapOutcome::Tracked
    }

    /// Lost packets due for a (re)request at `now`, given the round-trip time; written into
    /// `out` (cleared first).
    pub fn due(&mut self, now: Instant, rtt: Duration, out: &mut Vec<u16>) {
        out.clear();
        let retry = rtt.clamp(Duration::from_millis(20), Duration::from_millis(400));
        self.missing.retain(|m| {
            m.tries < NACK_RETRIES && now.saturating_duration_since(m.since) < NACK_GIVE_UP
        });
        for m in self.missing.iter_mut() {
            if m.next <= now {
                m.tries += 1;
                m.next = now + retry;
                out.push(m.seq as u16);
            }
        }
        out.sort_unstable_by_key(|s| *s);
    }

    /// The earliest instant a request is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.missing.iter().map(|m| m.next).min()
    }

    /// Packets currently considered missing.
    pub fn len(&self) -> usize {
        self.missing.len()
    }

    /// Whether nothing is missing.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_fraction_and_cumulative_loss() {
        let t0 = Instant::now();
        let mut r = ReceiveStats::new(90000);
        for s in [1u16, 2, 3, 5, 6, 8, 9, 10] {
            r.on_packet(t0, t0, s, s as u32 * 3000);
        }
        let b = r.report(7, t0).unwrap();
        assert_eq!(b.cumulative_lost, 2);
        assert_eq!(b.fraction_lost, (2 * 256 / 10) as u8);
        assert_eq!(b.ext_highest_seq & 0xffff, 10);
        for s in 11u16..=20 {
            r.on_packet(t0, t0, s, 0);
        }
        assert_eq!(
            r.report(7, t0).unwrap().fraction_lost,
            0,
            "no loss in the second interval"
        );
    }

    #[test]
    fn nacks_gaps_retries_and_forgets_them() {
        let t0 = Instant::now();
        let mut n = NackTracker::default();
        n.on_packet(t0, 100);
        n.on_packet(t0, 104);
        let mut out = Vec::new();
        n.due(t0, Duration::from_millis(50), &mut out);
        assert!(out.is_empty(), "a reordering allowance first");
        n.due(
            t0 + Duration::from_millis(6),
            Duration::from_millis(50),
            &mut out,
        );
        assert_eq!(out, vec![101, 102, 103]);
        n.on_packet(t0, 102);
        n.due(
            t0 + Duration::from_millis(60),
            Duration::from_millis(50),
            &mut out,
        );
        assert_eq!(out, vec![101, 103]);
        n.due(
            t0 + Duration::from_millis(2000),
            Duration::from_millis(50),
            &mut out,
        );
        assert!(out.is_empty() && n.is_empty(), "given up after a second");
        assert_eq!(n.on_packet(t0, 10_000), GapOutcome::TooLong);
    }
}
