//! Key-frame resolution parsing (`tessera_rtp::codec::keyframe_resolution`): VP8 key-frame
//! headers, VP9 uncompressed headers, H.264 SPSs (exp-Golomb, scaling lists,
//! emulation-prevention bytes, cropping) and AV1 sequence headers (OBU elements, LEB128
//! lengths, timing and decoder-model fields) never panic, and a size they report is never
//! zero. The first byte picks the codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_rtp::codec::{Codec, keyframe_resolution};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let codec = match pick % 4 {
        0 => Codec::Vp8,
        1 => Codec::H264,
        2 => Codec::Vp9,
        _ => Codec::Av1,
    };
    if let Some((w, h)) = keyframe_resolution(codec, payload) {
        assert!(w > 0 && h > 0);
    }
});
