//! In-memory DTLS test harness: endpoints exchange datagrams through a loop that can drop them.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use openssl::ssl::{ErrorCode, Ssl, SslStream};
use str0m::crypto::dtls::{DtlsCert, DtlsInstance, DtlsOutput, DtlsVersion, SrtpProfile};

/// What one endpoint reported.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub connected: bool,
    pub peer_cert: Option<Vec<u8>>,
    pub keys: Option<(Vec<u8>, SrtpProfile)>,
    pub app_data: Vec<Vec<u8>>,
    pub close_notify: bool,
    pub deadline: Option<Instant>,
    pub datagrams_sent: usize,
}

/// Something that speaks DTLS over datagrams.
pub trait Endpoint {
    fn start(&mut self, active: bool, now: Instant);
    fn receive(&mut self, datagram: &[u8]) -> Result<(), String>;
    fn timeout(&mut self, now: Instant) -> Result<(), String>;
    /// Datagrams to send; updates `seen`.
    fn drain(&mut self) -> Vec<Vec<u8>>;
    fn seen(&self) -> &Seen;
}

/// A str0m `DtlsInstance` (ours or dimpl) as an endpoint.
pub struct Instance {
    pub inner: Box<dyn DtlsInstance>,
    pub seen: Seen,
}

impl Instance {
    pub fn new(inner: Box<dyn DtlsInstance>) -> Self {
        Instance {
            inner,
            seen: Seen::default(),
        }
    }
}

impl Endpoint for Instance {
    fn start(&mut self, active: bool, now: Instant) {
        // What str0m's `Rtc::init_dtls` does.
        self.inner.set_active(active);
        self.inner.handle_timeout(now).unwrap();
        if active {
            let _ = self.inner.handle_packet(&[]);
        }
    }

    fn receive(&mut self, datagram: &[u8]) -> Result<(), String> {
        self.inner
            .handle_packet(datagram)
            .map_err(|e| e.to_string())
    }

    fn timeout(&mut self, now: Instant) -> Result<(), String> {
        self.inner.handle_timeout(now).map_err(|e| e.to_string())
    }

    fn drain(&mut self) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; 2000];
        let mut out = Vec::new();
        for _ in 0..10_000 {
            match self.inner.poll_output(&mut buf) {
                DtlsOutput::Packet(p) => out.push(p.to_vec()),
                DtlsOutput::Connected => self.seen.connected = true,
                DtlsOutput::PeerCert(c) => self.seen.peer_cert = Some(c.to_vec()),
                DtlsOutput::KeyingMaterial(k, p) => self.seen.keys = Some((k.to_vec(), p)),
                DtlsOutput::ApplicationData(d) => self.seen.app_data.push(d.to_vec()),
                DtlsOutput::CloseNotify => self.seen.close_notify = true,
                DtlsOutput::Timeout(t) => {
                    self.seen.deadline = Some(t);
                    self.seen.datagrams_sent += out.len();
                    return out;
                }
                other => panic!("unexpected output {other:?}"),
            }
        }
        panic!("poll_output never reached Timeout");
    }

    fn seen(&self) -> &Seen {
        &self.seen
    }
}

/// In-memory datagram pipe for a raw OpenSSL peer.
#[derive(Debug, Default)]
pub struct Pipe {
    pub incoming: VecDeque<Vec<u8>>,
    pub outgoing: Vec<Vec<u8>>,
}

impl io::Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let d = self.incoming.pop_front().ok_or(io::ErrorKind::WouldBlock)?;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok(n)
    }
}

impl io::Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.push(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A plain OpenSSL DTLS endpoint configured by the test (e.g. like GStreamer's webrtcbin).
pub struct RawOpenssl {
    pub stream: SslStream<Pipe>,
    pub active: bool,
    pub done: bool,
    pub seen: Seen,
}

impl RawOpenssl {
    pub fn new(ssl: Ssl) -> Self {
        RawOpenssl {
            stream: SslStream::new(ssl, Pipe::default()).unwrap(),
            active: true,
            done: false,
            seen: Seen::default(),
        }
    }

    fn step(&mut self) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let r = if self.active {
            self.stream.connect()
        } else {
            self.stream.accept()
        };
        match r {
            Ok(()) => {
                self.done = true;
                self.seen.connected = true;
                let ssl = self.stream.ssl();
                self.seen.peer_cert = ssl.peer_certificate().map(|c| c.to_der().unwrap());
                if let Some(p) = ssl.selected_srtp_profile() {
                    let profile = match p.id().as_raw() {
                        1 => SrtpProfile::AES128_CM_SHA1_80,
                        7 => SrtpProfile::AEAD_AES_128_GCM,
                        8 => SrtpProfile::AEAD_AES_256_GCM,
                        other => panic!("profile {other}"),
                    };
                    let mut km = vec![0; profile.keying_material_len()];
                    ssl.export_keying_material(&mut km, "EXTRACTOR-dtls_srtp", None)
                        .unwrap();
                    self.seen.keys = Some((km, profile));
                }
                Ok(())
            }
            Err(e) if e.code() == ErrorCode::WANT_READ => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Endpoint for RawOpenssl {
    fn start(&mut self, active: bool, _now: Instant) {
        self.active = active;
        if active {
            self.step().unwrap();
        }
    }

    fn receive(&mut self, datagram: &[u8]) -> Result<(), String> {
        self.stream.get_mut().incoming.push_back(datagram.to_vec());
        self.step()
    }

    fn timeout(&mut self, _now: Instant) -> Result<(), String> {
        Ok(())
    }

    fn drain(&mut self) -> Vec<Vec<u8>> {
        let out = std::mem::take(&mut self.stream.get_mut().outgoing);
        self.seen.datagrams_sent += out.len();
        out
    }

    fn seen(&self) -> &Seen {
        &self.seen
    }
}

/// Which datagrams the network loses: `loss(from_client, index_on_that_side, datagram)`.
pub type Loss<'a> = &'a mut dyn FnMut(bool, usize, &[u8]) -> bool;

/// Runs a handshake on a simulated clock that advances to the earliest deadline when both
/// sides are idle. Returns the simulated time it took and the number of rounds.
pub fn handshake(
    client: &mut dyn Endpoint,
    server: &mut dyn Endpoint,
    start: Instant,
    loss: Loss<'_>,
) -> Result<Duration, String> {
    run(client, server, start, loss, Clock::Simulated)
}

/// Which clock the loop uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// `now` only moves when both sides are idle, to the earliest deadline.
    Simulated,
    /// `now` is `Instant::now()`; when both sides are idle the loop sleeps until the earliest
    /// deadline (OpenSSL's retransmission timer reads the wall clock).
    Real,
}

pub fn run(
    client: &mut dyn Endpoint,
    server: &mut dyn Endpoint,
    start: Instant,
    loss: Loss<'_>,
    clock: Clock,
) -> Result<Duration, String> {
    let mut now = start;
    let (mut sent_c, mut sent_s) = (0usize, 0usize);
    client.start(true, now);
    server.start(false, now);
    for _ in 0..2_000 {
        if clock == Clock::Real {
            now = Instant::now();
        }
        if client.seen().deadline.is_some_and(|d| d <= now) {
            client.timeout(now)?;
        }
        if server.seen().deadline.is_some_and(|d| d <= now) {
            server.timeout(now)?;
        }
        let from_client = client.drain();
        let from_server = server.drain();
        let idle = from_client.is_empty() && from_server.is_empty();
        for d in from_client {
            let lost = loss(true, sent_c, &d);
            sent_c += 1;
            if !lost {
                server.receive(&d)?;
            }
        }
        for d in from_server {
            let lost = loss(false, sent_s, &d);
            sent_s += 1;
            if !lost {
                client.receive(&d)?;
            }
        }
        if client.seen().connected && server.seen().connected {
            // Let the last flight land and both sides settle.
            let c = client.drain();
            let s = server.drain();
            for d in c {
                server.receive(&d)?;
            }
            for d in s {
                client.receive(&d)?;
            }
            return Ok(now - start);
        }
        if idle {
            let next = [client.seen().deadline, server.seen().deadline]
                .into_iter()
                .flatten()
                .min()
                .ok_or("both idle without a deadline")?;
            if next > now + Duration::from_secs(3600) {
                return Err("stalled: no retransmission timer runs".into());
            }
            match clock {
                Clock::Simulated => now = now.max(next),
                Clock::Real => {
                    let wait = next.saturating_duration_since(Instant::now());
                    std::thread::sleep(wait.min(Duration::from_millis(200)));
                }
            }
        }
        if now - start > Duration::from_secs(120) {
            return Err("handshake did not complete".into());
        }
    }
    Err("too many rounds".into())
}

pub fn no_loss() -> impl FnMut(bool, usize, &[u8]) -> bool {
    |_, _, _| false
}

pub fn ours(cert: &DtlsCert, now: Instant) -> Instance {
    let p = &tessera_dtls::DTLS_PROVIDER;
    Instance::new(
        str0m::crypto::dtls::DtlsProvider::new_dtls(p, cert, now, DtlsVersion::Dtls12, Some(1150))
            .unwrap(),
    )
}

pub fn dimpl(cert: &DtlsCert, now: Instant) -> Instance {
    let p = str0m_aws_lc_rs::default_provider();
    Instance::new(
        p.dtls_provider
            .new_dtls(cert, now, DtlsVersion::Dtls12, Some(1150))
            .unwrap(),
    )
}

pub fn dimpl_cert() -> DtlsCert {
    str0m_aws_lc_rs::default_provider()
        .dtls_provider
        .generate_certificate()
        .unwrap()
}

pub fn our_cert() -> DtlsCert {
    tessera_dtls::generate_dtls_cert(tessera_dtls::SESSION_CERT_VALIDITY).unwrap()
}

/// Sends `data` from `a` to `b` as application data and returns what `b` received.
pub fn app_data(a: &mut Instance, b: &mut Instance, data: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(a.inner.send_application_data(data).unwrap(), data.len());
    for d in a.drain() {
        b.receive(&d).unwrap();
    }
    b.drain();
    std::mem::take(&mut b.seen.app_data)
}
