//! Placement of transports on shards by a real `MediaNode` (two shards on loopback).

use std::net::{IpAddr, Ipv4Addr};

use tessera_node::{MediaNode, NodeConfig};
use tessera_schema::control::{MediaControl, OfferRequest};

fn offer(ufrag: &str) -> String {
    format!(
        "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n\
         a=rtcp-mux\r\na=setup:actpass\r\na=ice-ufrag:{ufrag}\r\n\
         a=ice-pwd:hVVhVzC0wixK4SaH7SNSkOCsFnueHwaU\r\n\
         a=fingerprint:sha-256 EF:5D:4A:AF:AD:17:F6:DD:C1:E9:CD:73:E0:8F:9E:A6:D3:55:02:61:\
         AE:CF:33:BB:FF:0B:31:E7:16:19:0B:B6\r\na=rtpmap:111 opus/48000/2\r\n"
    )
}

fn request(transport: &str, sdp: String) -> OfferRequest {
    OfferRequest {
        transport_id: transport.into(),
        room_id: "room".into(),
        owner: "owner".into(),
        sdp,
        publish: Vec::new(),
        subscribe: Vec::new(),
    }
}

fn node() -> MediaNode {
    MediaNode::start(NodeConfig {
        cores: 2,
        pin: false,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ..NodeConfig::default()
    })
    .expect("node starts")
}

/// Offers that arrive together see each other's placement: a burst of joins spreads over
/// the shards instead of piling onto the one that was least loaded when it began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_offers_spreads_over_the_shards() {
    let node = node();
    let offers = (0..8).map(|i| {
        let node = &node;
        async move {
            node.offer(request(&format!("t{i}"), offer(&format!("ufrag{i}"))))
                .await
                .expect("offer answered")
        }
    });
    futures_join_all(offers).await;
    assert_eq!(node.shard_loads(), vec![4, 4]);
    node.stop();
}

/// A new transport whose offer fails is not left placed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_offer_leaves_nothing_placed() {
    let node = node();
    let err = node
        .offer(request("bad", "v=0\r\nnot an offer\r\n".into()))
        .await
        .unwrap_err();
    eprintln!("refused: {err}");
    assert_eq!(node.shard_loads(), vec![0, 0]);
    node.offer(request("good", offer("good")))
        .await
        .expect("offer answered");
    assert_eq!(node.shard_loads().iter().sum::<usize>(), 1);
    node.stop();
}

/// Two concurrent first offers for one transport, the first one failing: the transport the
/// second one created stays placed (and can be closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_offer_does_not_unplace_a_concurrent_good_one() {
    let node = node();
    let results = futures_join_all(
        [
            request("t", "v=0\r\nnot an offer\r\n".into()),
            request("t", offer("good")),
        ]
        .into_iter()
        .map(|r| node.offer(r)),
    )
    .await;
    assert!(results[0].is_err() && results[1].is_ok(), "{results:?}");
    assert_eq!(node.shard_loads().iter().sum::<usize>(), 1);
    node.close_transport("t")
        .await
        .expect("the transport is known");
    assert_eq!(node.shard_loads(), vec![0, 0]);
    node.stop();
}

/// Polls every future to completion concurrently (no extra dependency for `join_all`).
async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = fs.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut handles: Vec<Option<_>> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (h, out) in handles.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = h {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *h = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("completed")).collect()
}
