//! Per-subscriber rewriting of a forwarded stream: the subscriber sees one SSRC with continuous
//! sequence numbers and timestamps, whatever layer or source feeds it (switches happen only at
//! a key frame of the new layer), and a sequence number it NACKs maps back to the packet that
//! carried it.

use std::time::Instant;

use crate::seq::seq_after;

/// One stretch of output that came from one layer with one offset.
#[derive(Clone, Copy, Debug, Default)]
struct Segment {
    first_out: u16,
    layer: u8,
    seq_delta: u16,
    ts_delta: u32,
}

const SEGMENTS: usize = 4;

/// The rewriting state of one subscriber stream.
#[derive(Debug)]
pub struct Rewriter {
    clock_rate: u32,
    layer: Option<u8>,
    seq_delta: u16,
    ts_delta: u32,
    max_out_seq: u16,
    max_out_ts: u32,
    last_out_at: Option<Instant>,
    segments: [Segment; SEGMENTS],
    nseg: usize,
    /// VP8/VP9 picture-id continuity (15-bit space).
    pic_delta: u16,
    max_out_pic: Option<u16>,
    tl0_delta: u8,
    max_out_tl0: Option<u8>,
    switched_pic: bool,
}

/// Where a forwarded packet goes in the output stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped {
    /// Output sequence number.
    pub seq: u16,
    /// Output timestamp.
    pub ts: u32,
    /// The packet started a new layer (or the stream).
    pub switched: bool,
}

impl Rewriter {
    /// A rewriter for a stream with this RTP clock rate; `initial_seq` is where output starts.
    pub fn new(clock_rate: u32, initial_seq: u16) -> Rewriter {
        Rewriter {
            clock_rate: clock_rate.max(1),
            layer: None,
            seq_delta: 0,
            ts_delta: 0,
            max_out_seq: initial_seq.wrapping_sub(1),
            max_out_ts: 0,
            last_out_at: None,
            segments: [Segment::default(); SEGMENTS],
            nseg: 0,
            pic_delta: 0,
            max_out_pic: None,
            tl0_delta: 0,
            max_out_tl0: None,
            switched_pic: false,
        }
    }

    /// The layer currently forwarded.
    pub fn layer(&self) -> Option<u8> {
        self.layer
    }

    /// The stream will come from another source: the next packet that may switch (a key frame,
    /// or any audio packet) continues the output's sequence numbers and timestamps, and
    /// output sent so far no longer maps back to an input packet (the old source's packets
    /// cannot be retransmitted from the new one's buffer).
    pub fn new_source(&mut self) {
        self.layer = None;
        self.nseg = 0;
    }

    /// Highest output sequence number and timestamp so far.
    pub fn last_out(&self) -> (u16, u32) {
        (self.max_out_seq, self.max_out_ts)
    }

    /// Whether anything was sent yet.
    pub fn started(&self) -> bool {
        self.layer.is_some()
    }

    /// Maps a packet of `layer`. `switch_ok` says the packet may start the stream or switch to
    /// its layer (it begins a key frame of the target layer, or the stream is audio).
    pub fn map(
        &mut self,
        now: Instant,
        layer: u8,
        seq: u16,
        ts: u32,
        switch_ok: bool,
    ) -> Option<Mapped> {
        let switched = match self.layer {
            Some(cur) if cur == layer => false,
            _ if switch_ok => {
                let out_seq = self.max_out_seq.wrapping_add(1);
                let out_ts = match self.last_out_at {
                    Some(at) => {
                        let elapsed = now.saturating_duration_since(at).as_secs_f64()
                            * self.clock_rate as f64;
                        self.max_out_ts.wrapping_add((elapsed as u32).max(1))
                    }
                    None => ts,
                };
                self.seq_delta = out_seq.wrapping_sub(seq);
                self.ts_delta = out_ts.wrapping_sub(ts);
                self.layer = Some(layer);
                self.segments.rotate_right(1);
                self.segments[0] = Segment {
                    first_out: out_seq,
                    layer,
                    seq_delta: self.seq_delta,
                    ts_delta: self.ts_delta,
                };
                self.nseg = (self.nseg + 1).min(SEGMENTS);
                self.switched_pic = true;
                true
            }
            _ => return None,
        };
        let out_seq = seq.wrapping_add(self.seq_delta);
        let out_ts = ts.wrapping_add(self.ts_delta);
        if switched || seq_after(out_seq, self.max_out_seq) {
            self.max_out_seq = out_seq;
        }
        if switched || out_ts.wrapping_sub(self.max_out_ts) < 0x8000_0000 {
            self.max_out_ts = out_ts;
        }
        self.last_out_at = Some(now);
        Some(Mapped {
            seq: out_seq,
            ts: out_ts,
            switched,
        })
    }

    /// The `(layer, input sequence number, timestamp offset)` that produced output `out_seq`,
    /// if known.
    pub fn unmap(&self, out_seq: u16) -> Option<(u8, u16, u32)> {
        for s in &self.segments[..self.nseg] {
            // Within 32k after the segment start, and not after the newest output.
            if out_seq == s.first_out
                || (seq_after(out_seq, s.first_out) && !seq_after(out_seq, self.max_out_seq))
            {
                return Some((s.layer, out_seq.wrapping_sub(s.seq_delta), s.ts_delta));
            }
        }
        None
    }

    /// Output timestamp minus input timestamp of the current layer.
    pub fn ts_delta(&self) -> u32 {
        self.ts_delta
    }

    /// Rewrites a VP8/VP9 15-bit picture id (and VP8 TL0PICIDX) so they stay continuous
    /// across switches. Returns the output values.
    pub fn map_picture(&mut self, pic: u16, tl0: Option<u8>) -> (u16, Option<u8>) {
        if self.switched_pic {
            self.switched_pic = false;
            self.pic_delta = match self.max_out_pic {
                Some(m) => m.wrapping_add(1).wrapping_sub(pic) & 0x7fff,
                None => 0,
            };
            if let Some(t) = tl0 {
                self.tl0_delta = match self.max_out_tl0 {
                    Some(m) => m.wrapping_add(1).wrapping_sub(t),
                    None => 0,
                };
            }
        }
        let out = pic.wrapping_add(self.pic_delta) & 0x7fff;
        if self
            .max_out_pic
            .is_none_or(|m| out.wrapping_sub(m) & 0x7fff < 0x4000)
        {
            self.max_out_pic = Some(out);
        }
        let out_tl0 = tl0.map(|t| t.wrapping_add(self.tl0_delta));
        if let Some(t) = out_tl0
            && self.max_out_tl0.is_none_or(|m| t.wrapping_sub(m) < 0x80)
        {
            self.max_out_tl0 = Some(t);
        }
        (out, out_tl0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn continuous_output_across_a_switch() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90000, 1000);
        assert_eq!(
            r.map(t0, 0, 5000, 10_000, false),
            None,
            "waits for a key frame"
        );
        let a = r.map(t0, 0, 5000, 10_000, true).unwrap();
        assert_eq!((a.seq, a.ts, a.switched), (1000, 10_000, true));
        let b = r.map(t0, 0, 5001, 13_000, false).unwrap();
        assert_eq!((b.seq, b.ts), (1001, 13_000));
        assert_eq!(
            r.map(t0, 1, 70, 999, false),
            None,
            "other layers are dropped until a switch"
        );
        let c = r
            .map(t0 + Duration::from_millis(33), 1, 70, 999, true)
            .unwrap();
        assert_eq!(c.seq, 1002);
        assert_eq!(
            c.ts,
            13_000 + 2970,
            "timestamp advances by the wall-clock gap"
        );
        let d = r.map(t0, 1, 71, 1999, false).unwrap();
        assert_eq!((d.seq, d.ts), (1003, 13_000 + 2970 + 1000));
        assert_eq!(
            r.map(t0, 0, 5002, 16_000, false),
            None,
            "the old layer is cut off"
        );
        assert_eq!(
            r.unmap(1003),
            Some((1, 71, (13_000u32 + 2970).wrapping_sub(999)))
        );
        assert_eq!(r.unmap(1001), Some((0, 5001, 0)));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(48000, 65534);
        r.map(t0, 0, 10, 0, true).unwrap();
        let m = r.map(t0, 0, 12, 960, false).unwrap();
        assert_eq!(m.seq, 0);
        assert_eq!(r.unmap(0), Some((0, 12, 0)));
    }

    #[test]
    fn picture_ids_stay_continuous() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90000, 1);
        r.map(t0, 0, 1, 0, true);
        assert_eq!(r.map_picture(100, Some(5)), (100, Some(5)));
        assert_eq!(r.map_picture(101, Some(6)), (101, Some(6)));
        r.map(t0, 1, 500, 0, true);
        assert_eq!(r.map_picture(9000, Some(200)), (102, Some(7)));
        assert_eq!(r.map_picture(9001, Some(201)), (103, Some(8)));
    }
}
