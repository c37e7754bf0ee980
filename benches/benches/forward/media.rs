//! The synthetic publisher stream: VP8-like video at ~2.5 Mbit/s (30 fps, 9 packets of 1150
//! payload bytes per frame, paced like libwebrtc's pacer at 2.5x the bitrate) and Opus-like
//! audio (50 packets/s of 100 bytes). Every payload ends with the CLOCK_REALTIME nanoseconds at
//! which the packet was handed to the kernel, so a receiver can measure the path's latency
//! against the kernel's receive timestamp.

use std::time::{Duration, Instant};

/// RTP payload type of the video (VP8) on plain-RTP paths.
pub const VIDEO_PT: u8 = 96;
/// RTP payload type of the audio (Opus) on plain-RTP paths.
pub const AUDIO_PT: u8 = 111;
/// Video frames per second.
pub const FPS: u32 = 30;
/// RTP packets per video frame.
pub const PACKETS_PER_FRAME: u32 = 9;
/// Payload bytes of a video packet (VP8 descriptor included).
pub const VIDEO_PAYLOAD: usize = 1150;
/// Payload bytes of an audio packet.
pub const AUDIO_PAYLOAD: usize = 100;
/// Audio packets per second.
pub const AUDIO_PPS: u32 = 50;
/// A key frame every this many frames (and whenever a PLI/FIR arrives).
pub const KEYFRAME_EVERY: u32 = 60;
/// Gap between the packets of one frame: 1162-byte packets at 2.5 x 2.5 Mbit/s.
pub const PACING_GAP: Duration = Duration::from_micros(1490);

/// The gap between a frame's packets: [`PACING_GAP`], or none with `FORWARD_BURST=1` (each
/// frame's packets back to back, as an encoder without a pacer sends them: GStreamer, OBS).
pub fn pacing_gap() -> Duration {
    static GAP: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *GAP.get_or_init(|| {
        if std::env::var("FORWARD_BURST").as_deref() == Ok("1") {
            Duration::ZERO
        } else {
            PACING_GAP
        }
    })
}

/// Packets per second the publisher sends.
pub const fn packets_per_second() -> u32 {
    FPS * PACKETS_PER_FRAME + AUDIO_PPS
}

/// Video bitrate in bit/s (RTP payload only).
pub const fn video_bitrate() -> u32 {
    FPS * PACKETS_PER_FRAME * VIDEO_PAYLOAD as u32 * 8
}

/// CLOCK_REALTIME in nanoseconds (the clock SO_TIMESTAMPNS reports).
pub fn realtime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Which stream a packet belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
}

/// The send schedule and RTP state of the synthetic publisher.
#[derive(Debug)]
pub struct Stream {
    pub video_ssrc: u32,
    pub audio_ssrc: u32,
    video_pt: u8,
    audio_pt: u8,
    start: Instant,
    frame: u32,
    packet_in_frame: u32,
    next_video: Instant,
    next_audio: Instant,
    audio_count: u32,
    video_seq: u16,
    audio_seq: u16,
    picture_id: u16,
    keyframe_now: bool,
    force_keyframe: bool,
    /// Key frames sent because of a request.
    pub keyframes_on_request: u64,
    /// Packets built.
    pub sent: u64,
}

impl Stream {
    pub fn new(
        now: Instant,
        video_ssrc: u32,
        audio_ssrc: u32,
        video_pt: u8,
        audio_pt: u8,
    ) -> Stream {
        Stream {
            video_ssrc,
            audio_ssrc,
            video_pt,
            audio_pt,
            start: now,
            frame: 0,
            packet_in_frame: 0,
            next_video: now,
            next_audio: now,
            audio_count: 0,
            video_seq: rand_u16(),
            audio_seq: rand_u16(),
            picture_id: rand_u16() & 0x7fff,
            keyframe_now: true,
            force_keyframe: false,
            keyframes_on_request: 0,
            sent: 0,
        }
    }

    /// A PLI or FIR arrived: the next frame is a key frame.
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// When the next packet is due.
    pub fn next_at(&self) -> Instant {
        self.next_video.min(self.next_audio)
    }

    /// Writes the next due packet (at `now` or earlier) into `buf`; returns its kind and length.
    /// The last 8 payload bytes are left for [`stamp`].
    pub fn next_packet(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Kind, usize)> {
        if self.next_audio <= now && self.next_audio <= self.next_video {
            let ts = self.audio_count.wrapping_mul(960);
            let n = write_header(
                buf,
                self.audio_pt,
                true,
                self.audio_seq,
                ts,
                self.audio_ssrc,
            );
            buf[n] = 0x78; // an Opus TOC byte (CELT FB 20 ms)
            buf[n + 1..n + AUDIO_PAYLOAD].fill(0x5a);
            self.audio_seq = self.audio_seq.wrapping_add(1);
            self.audio_count += 1;
            self.next_audio = self.start + Duration::from_millis(20) * self.audio_count;
            self.sent += 1;
            return Some((Kind::Audio, n + AUDIO_PAYLOAD));
        }
        if self.next_video > now {
            return None;
        }
        if self.packet_in_frame == 0 {
            self.keyframe_now = self.frame.is_multiple_of(KEYFRAME_EVERY) || self.force_keyframe;
            if self.force_keyframe && !self.frame.is_multiple_of(KEYFRAME_EVERY) {
                self.keyframes_on_request += 1;
            }
            self.force_keyframe = false;
        }
        let first = self.packet_in_frame == 0;
        let last = self.packet_in_frame + 1 == PACKETS_PER_FRAME;
        let ts = self.frame.wrapping_mul(90_000 / FPS);
        let n = write_header(
            buf,
            self.video_pt,
            last,
            self.video_seq,
            ts,
            self.video_ssrc,
        );
        let p = &mut buf[n..n + VIDEO_PAYLOAD];
        // VP8 payload descriptor (RFC 7741): X=1, S on the first packet, PID=0; I=1 with a
        // 15-bit picture id.
        p[0] = if first { 0x90 } else { 0x80 };
        p[1] = 0x80;
        p[2] = 0x80 | (self.picture_id >> 8) as u8;
        p[3] = self.picture_id as u8;
        p[4..].fill(0xa5);
        if first {
            // VP8 payload header: P bit (bit 0) = 0 for a key frame; a key frame carries the
            // start code and a 640x360 size like a real one.
            if self.keyframe_now {
                p[4..14]
                    .copy_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
            } else {
                p[4..7].copy_from_slice(&[0x31, 0x02, 0x00]);
            }
        }
        self.video_seq = self.video_seq.wrapping_add(1);
        self.packet_in_frame += 1;
        if last {
            self.packet_in_frame = 0;
            self.frame += 1;
            self.picture_id = (self.picture_id + 1) & 0x7fff;
            self.next_video = self.start + Duration::from_secs(1) * self.frame / FPS;
        } else {
            self.next_video += pacing_gap();
        }
        self.sent += 1;
        Some((Kind::Video, n + VIDEO_PAYLOAD))
    }
}

/// Puts the send time into the last 8 bytes of an RTP packet of `len` bytes (no padding).
pub fn stamp(packet: &mut [u8], len: usize) {
    packet[len - 8..len].copy_from_slice(&realtime_ns().to_be_bytes());
}

/// The send time a packet's payload ends with.
pub fn stamp_of(payload: &[u8]) -> Option<u64> {
    let n = payload.len();
    (n >= 8).then(|| u64::from_be_bytes(payload[n - 8..].try_into().expect("8 bytes")))
}

fn write_header(buf: &mut [u8], pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> usize {
    buf[0] = 0x80;
    buf[1] = pt | if marker { 0x80 } else { 0 };
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    12
}

fn rand_u16() -> u16 {
    let mut b = [0u8; 2];
    aws_lc_rs::rand::fill(&mut b).expect("random bytes");
    u16::from_be_bytes(b)
}
