//! What a peer sends through signalling, into a `ShardWorker` that already serves a publisher:
//! an SDP offer on a new transport (publishing its first audio and video m-lines, as a WHIP
//! POST does), a trickled candidate line for the publisher's transport (a WHIP/WHEP PATCH), or
//! an answer to an offer of the server's (a WHEP PATCH). Each goes through the worker's own
//! command handling: our SDP parser and negotiation, str0m's candidate and fingerprint parsing,
//! and the first poll of str0m's ICE agent and DTLS with what the peer declared. (The clock
//! does not advance: later timers are the `session` target's.)
//!
//! Checks: nothing panics, not even a panic the worker would catch and turn into a failed
//! transport (libfuzzer-sys's panic hook aborts on any panic); the publisher's transport
//! survives whatever a request for another transport did; and the worker still answers a good
//! subscription afterwards.
//!
//! Input: the first byte picks the request (`% 3`: offer, candidate, answer); the rest is its
//! text (UTF-8).
#![no_main]

#[path = "../../dataplane/tessera-node/tests/support/mod.rs"]
mod support;

use libfuzzer_sys::fuzz_target;
use str0m::media::MediaKind;
use support::{Backend, Harness};
use tessera_node::worker::Command;
use tessera_schema::control::{OfferRequest, PublishSpec, PublishTrackSpec, TrackKind};
use tessera_schema::sdp::{Kind, Offer};

/// A publish request for the first audio and video m-lines of `sdp` (as the conference makes
/// for a WHIP POST); `None` if it has neither.
fn publish_request(id: &str, sdp: &str) -> Option<OfferRequest> {
    let offer = Offer::parse(sdp).ok()?;
    let mut tracks: Vec<PublishTrackSpec> = Vec::new();
    for m in &offer.media {
        let (Some(kind), Some(mid)) = (m.kind, m.mid.clone()) else {
            continue;
        };
        let kind = match kind {
            Kind::Audio => TrackKind::Audio,
            Kind::Video => TrackKind::Video,
        };
        if !tracks.iter().any(|t| t.kind == kind) {
            tracks.push(PublishTrackSpec {
                mid,
                kind,
                source: None,
            });
        }
    }
    let media_in = tessera_schema::room::default_media_in();
    (!tracks.is_empty()).then(|| OfferRequest {
        transport_id: id.into(),
        room_id: "room".into(),
        owner: "owner".into(),
        sdp: sdp.to_string(),
        publish: vec![PublishSpec {
            stream_id: format!("{id}-stream"),
            tracks,
            accept_audio: media_in.audio,
            accept_video: media_in.video,
        }],
        subscribe: vec![],
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut h = Harness::new();
    let p = h.add_client("pub", Backend::Ours);
    let n = h.publish(p, &[MediaKind::Audio, MediaKind::Video], &[]);
    let tracks = vec![
        (MediaKind::Audio, n.track(n.mids[0])),
        (MediaKind::Video, n.track(n.mids[1])),
    ];
    match pick % 3 {
        0 => {
            if let Some(req) = publish_request("fuzz", text) {
                let _ = h.command(|tx| Command::Offer(Box::new(req), tx));
            }
        }
        1 => {
            let line = text.to_string();
            let _ = h.command(|tx| Command::Candidate("pub".into(), line, tx));
        }
        _ => {
            let s = h.add_client("player", Backend::Ours);
            let _ = h.subscribe_by_server_offer_unanswered(s, &tracks);
            let answer = text.to_string();
            let _ = h.command(|tx| Command::Answer("player".into(), answer, tx));
        }
    }
    let r = h.command(|tx| Command::Stats("pub".into(), tx));
    assert!(r.is_ok(), "the publisher's transport is gone: {r:?}");
    // The worker still answers a good offer.
    let s = h.add_client("viewer", Backend::Ours);
    let _ = h.subscribe(s, &tracks);
});
