//! One DTLS 1.2 connection: OpenSSL over in-memory datagrams, driven the way str0m drives
//! a [`DtlsInstance`].

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use openssl::ssl::{ErrorCode, SslContext, SslStream};
use str0m::crypto::dtls::{DtlsImplError, DtlsInstance, DtlsOutput};
use str0m::crypto::dtls::{KeyingMaterial, ProtocolVersion, SrtpProfile};

use crate::stats::{self, bump};
use crate::tap::{ExportedSrtpKeys, KeyTap, SrtpProtectionProfile};
use crate::{Error, record, timer};

/// The label RFC 5764 §4.2 exports the SRTP keying material with.
pub const SRTP_EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// How far away `Timeout` is when no timer runs. str0m takes the earliest of its timeouts.
const IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The shortest `Timeout` we report while a retransmission timer runs, so an expired OpenSSL
/// timer never asks str0m for `handle_timeout(now)` at exactly `now` in a loop.
const MIN_TIMER: Duration = Duration::from_millis(1);

/// AES-GCM record expansion in DTLS 1.2: 8-byte explicit nonce plus 16-byte tag.
const AES_GCM_EXPANSION: u16 = 24;

/// ChaCha20-Poly1305 record expansion: the 16-byte tag (the nonce is implicit).
const CHACHA20_POLY1305_EXPANSION: u16 = 16;

/// The largest record expansion of the ciphers we allow.
const AEAD_OVERHEAD: usize = AES_GCM_EXPANSION as usize;

/// The smallest MTU OpenSSL accepts (`dtls1_min_mtu` with a BIO that adds no overhead).
const OPENSSL_MIN_MTU: usize = 256;

/// Largest plaintext record (2^14) plus slack: the buffer application data is read into.
const READ_BUF_LEN: usize = (1 << 14) + 256;

/// Datagram I/O for OpenSSL's BIO: every read returns exactly one datagram (truncated to the
/// reader's buffer, as a UDP socket would), every write is one datagram.
#[derive(Debug, Default)]
struct DatagramIo {
    /// The datagram being handed to OpenSSL; its buffer is reused.
    incoming: Vec<u8>,
    has_incoming: bool,
    outgoing: VecDeque<Vec<u8>>,
}

impl DatagramIo {
    fn set_incoming(&mut self, datagram: &[u8]) {
        self.incoming.clear();
        self.incoming.extend_from_slice(datagram);
        self.has_incoming = true;
    }
}

impl io::Read for DatagramIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.has_incoming {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.has_incoming = false;
        let n = self.incoming.len().min(buf.len());
        buf[..n].copy_from_slice(&self.incoming[..n]);
        Ok(n)
    }
}

impl io::Write for DatagramIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.push_back(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Created; `set_active` not called yet.
    Unset,
    /// Role known; the client has not sent its ClientHello / the server has seen nothing.
    Ready,
    /// Handshake messages exchanged.
    Handshaking,
    /// Handshake complete, keys exported.
    Connected,
    /// `close()` before the handshake completed, or a fatal error.
    Dead,
}

enum Event {
    PeerCert(Vec<u8>),
    Connected,
    Keys(Vec<u8>, SrtpProfile),
    ApplicationData(Vec<u8>),
    CloseNotify,
}

/// A DTLS 1.2 endpoint on OpenSSL, created by
/// [`OpensslDtlsProvider::new_dtls`](crate::OpensslDtlsProvider).
pub struct OpensslDtlsInstance {
    stream: SslStream<DatagramIo>,
    state: State,
    active: bool,
    last_now: Instant,
    events: VecDeque<Event>,
    close_sent: bool,
    close_received: bool,
    tap: Option<KeyTap>,
}

impl fmt::Debug for OpensslDtlsInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpensslDtlsInstance")
            .field("state", &self.state)
            .field("active", &self.active)
            .field("pending_datagrams", &self.stream.get_ref().outgoing.len())
            .field("pending_events", &self.events.len())
            .field("close_sent", &self.close_sent)
            .field("close_received", &self.close_received)
            .field("tap", &self.tap.is_some())
            .finish()
    }
}

impl OpensslDtlsInstance {
    pub(crate) fn new(
        ctx: &SslContext,
        now: Instant,
        mtu: usize,
        initial_retransmit_us: u32,
        tap: Option<KeyTap>,
    ) -> Result<Self, Error> {
        let mut ssl = openssl::ssl::Ssl::new(ctx)?;
        // OpenSSL counts the MTU without IP/UDP headers, as str0m does. When it packs a flight
        // into datagrams it counts no overhead for AEAD records (OpenSSL 3.0 `dtls1_do_write`:
        // `mac_size = 0` for AEAD ciphers), so the encrypted Finished can overshoot by the
        // AES-GCM explicit nonce and tag; leave room for them.
        let openssl_mtu = mtu.saturating_sub(AEAD_OVERHEAD).max(OPENSSL_MIN_MTU);
        ssl.set_mtu(u32::try_from(openssl_mtu).unwrap_or(u32::MAX))?;
        timer::install(&mut ssl, initial_retransmit_us)?;
        let stream = SslStream::new(ssl, DatagramIo::default())?;
        if let Some(t) = &tap {
            t.attach();
        }
        Ok(OpensslDtlsInstance {
            stream,
            state: State::Unset,
            active: false,
            last_now: now,
            events: VecDeque::new(),
            close_sent: false,
            close_received: false,
            tap,
        })
    }

    /// Marks the instance dead, counts and logs why, and returns the error for str0m.
    fn fail(&mut self, e: Error) -> DtlsImplError {
        if self.state != State::Connected && self.state != State::Dead {
            bump(&stats::HANDSHAKES_FAILED);
        }
        tracing::debug!(target: "tessera::dtls", active = self.active, error = %e, "DTLS failed");
        self.state = State::Dead;
        e.to_dtls_impl_error()
    }

    /// Runs the handshake as far as the input allows (`SSL_connect` / `SSL_accept`, which also
    /// fix the role on the first call) and moves to `Connected` when it completes.
    fn drive_handshake(&mut self) -> Result<(), DtlsImplError> {
        self.state = State::Handshaking;
        let step = if self.active {
            self.stream.connect()
        } else {
            self.stream.accept()
        };
        match step {
            Ok(()) => self.on_handshake_complete(),
            Err(e) if e.code() == ErrorCode::WANT_READ => Ok(()),
            Err(e) => {
                let detail = match e.ssl_error() {
                    Some(stack) => stack.to_string(),
                    None => e.to_string(),
                };
                Err(self.fail(Error::Handshake(detail)))
            }
        }
    }

    fn on_handshake_complete(&mut self) -> Result<(), DtlsImplError> {
        let ssl = self.stream.ssl();
        let Some(peer) = ssl.peer_certificate() else {
            return Err(self.fail(Error::NoPeerCertificate));
        };
        let peer = match peer.to_der() {
            Ok(der) => der,
            Err(e) => return Err(self.fail(Error::Handshake(e.to_string()))),
        };
        let Some(profile) = ssl
            .selected_srtp_profile()
            .and_then(|p| u16::try_from(p.id().as_raw()).ok())
            .and_then(SrtpProtectionProfile::from_id)
        else {
            return Err(self.fail(Error::NoSrtpProfile));
        };
        let mut material = vec![0u8; profile.keying_material_len()];
        if let Err(e) = ssl.export_keying_material(&mut material, SRTP_EXPORTER_LABEL, None) {
            return Err(self.fail(Error::KeyExport(e.to_string())));
        }
        tracing::debug!(
            target: "tessera::dtls",
            active = self.active,
            cipher = ssl.current_cipher().map(|c| c.name()).unwrap_or("?"),
            srtp = %profile,
            "DTLS connected"
        );
        bump(&stats::HANDSHAKES_COMPLETED);
        self.state = State::Connected;
        self.events.push_back(Event::PeerCert(peer));
        self.events.push_back(Event::Connected);
        self.events
            .push_back(Event::Keys(material, profile.to_str0m()));
        Ok(())
    }

    /// Reads records OpenSSL has buffered: application data, or the peer's close_notify.
    fn read_records(&mut self) -> Result<(), DtlsImplError> {
        let mut buf = [0u8; READ_BUF_LEN];
        loop {
            match self.stream.ssl_read(&mut buf) {
                Ok(n) => self
                    .events
                    .push_back(Event::ApplicationData(buf[..n].to_vec())),
                Err(e) if e.code() == ErrorCode::WANT_READ => return Ok(()),
                Err(e) if e.code() == ErrorCode::ZERO_RETURN => {
                    if !self.close_received {
                        tracing::debug!(target: "tessera::dtls", "DTLS close_notify received");
                        self.close_received = true;
                        self.events.push_back(Event::CloseNotify);
                    }
                    self.send_close_notify();
                    return Ok(());
                }
                Err(e) => {
                    let detail = match e.ssl_error() {
                        Some(stack) => stack.to_string(),
                        None => e.to_string(),
                    };
                    return Err(self.fail(Error::Record(detail)));
                }
            }
        }
    }

    fn send_close_notify(&mut self) {
        if !self.close_sent {
            self.close_sent = true;
            // A failure leaves nothing to send; the connection is over either way.
            let _ = self.stream.shutdown();
        }
    }

    /// The smallest body an encrypted record can have under the negotiated cipher (its
    /// expansion). OpenSSL 3.0 fails the connection on shorter ones instead of dropping them,
    /// so they are rejected before it sees them. Until a cipher is known, the smallest of the
    /// ciphers we allow.
    fn min_encrypted_body(&self) -> u16 {
        match self.stream.ssl().current_cipher().map(|c| c.name()) {
            Some(name) if name.contains("GCM") => AES_GCM_EXPANSION,
            _ => CHACHA20_POLY1305_EXPANSION,
        }
    }

    /// The instant to report as `Timeout`.
    fn deadline(&self) -> Instant {
        let running = matches!(self.state, State::Handshaking | State::Connected)
            .then(|| timer::remaining(self.stream.ssl()))
            .flatten();
        match running {
            Some(left) => self.last_now + left.max(MIN_TIMER),
            None => self.last_now + IDLE_TIMEOUT,
        }
    }

    fn start_client(&mut self) -> Result<(), DtlsImplError> {
        if self.active && self.state == State::Ready {
            tracing::debug!(target: "tessera::dtls", "DTLS client sends ClientHello");
            self.drive_handshake()
        } else {
            Ok(())
        }
    }
}

impl DtlsInstance for OpensslDtlsInstance {
    fn set_active(&mut self, active: bool) {
        if self.state != State::Unset {
            tracing::warn!(target: "tessera::dtls", "set_active called twice; ignored");
            return;
        }
        self.active = active;
        self.state = State::Ready;
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        if packet.is_empty() {
            // str0m "receives" an empty datagram to make a client start its handshake.
            return self.start_client();
        }
        match self.state {
            State::Unset => {
                tracing::trace!(target: "tessera::dtls", "datagram before set_active dropped");
                return Ok(());
            }
            State::Dead => return Err(Error::Closed.to_dtls_impl_error()),
            _ => {}
        }
        if let Err(e) = record::check_datagram_with(packet, self.min_encrypted_body()) {
            bump(&stats::MALFORMED_DATAGRAMS);
            tracing::debug!(target: "tessera::dtls", error = %e, len = packet.len(), "datagram dropped");
            return Err(Error::MalformedDatagram(e).to_dtls_impl_error());
        }
        tracing::trace!(target: "tessera::dtls", len = packet.len(), "datagram in");
        self.stream.get_mut().set_incoming(packet);
        let result = match self.state {
            State::Ready | State::Handshaking => match self.drive_handshake() {
                Ok(()) if self.state == State::Connected => self.read_records(),
                other => other,
            },
            State::Connected => self.read_records(),
            State::Unset | State::Dead => Ok(()),
        };
        // A datagram OpenSSL did not read (it failed first) is dropped, never re-read.
        self.stream.get_mut().has_incoming = false;
        result
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        fn copy<'a>(buf: &'a mut [u8], data: &[u8]) -> Option<&'a [u8]> {
            let out = buf.get_mut(..data.len())?;
            out.copy_from_slice(data);
            Some(out)
        }

        if let Some(d) = self.stream.get_mut().outgoing.pop_front() {
            if d.len() > buf.len() {
                let needed = d.len();
                self.stream.get_mut().outgoing.push_front(d);
                return DtlsOutput::BufferTooSmall { needed };
            }
            tracing::trace!(target: "tessera::dtls", len = d.len(), "datagram out");
            return match copy(buf, &d) {
                Some(out) => DtlsOutput::Packet(out),
                None => DtlsOutput::BufferTooSmall { needed: d.len() },
            };
        }

        if let Some(ev) = self.events.pop_front() {
            let needed = match &ev {
                Event::PeerCert(d) | Event::ApplicationData(d) => d.len(),
                _ => 0,
            };
            if needed > buf.len() {
                self.events.push_front(ev);
                return DtlsOutput::BufferTooSmall { needed };
            }
            return match ev {
                Event::PeerCert(d) => match copy(buf, &d) {
                    Some(out) => DtlsOutput::PeerCert(out),
                    None => DtlsOutput::BufferTooSmall { needed },
                },
                Event::ApplicationData(d) => match copy(buf, &d) {
                    Some(out) => DtlsOutput::ApplicationData(out),
                    None => DtlsOutput::BufferTooSmall { needed },
                },
                Event::Connected => DtlsOutput::Connected,
                Event::CloseNotify => DtlsOutput::CloseNotify,
                Event::Keys(material, profile) => {
                    if let (Some(tap), Some(p)) =
                        (&self.tap, SrtpProtectionProfile::from_str0m(profile))
                    {
                        match ExportedSrtpKeys::new(p, material.clone(), self.active) {
                            Ok(keys) => tap.deliver(keys),
                            Err(e) => {
                                tracing::error!(target: "tessera::dtls", error = %e, "key tap")
                            }
                        }
                    }
                    DtlsOutput::KeyingMaterial(KeyingMaterial::new(&material), profile)
                }
            };
        }

        DtlsOutput::Timeout(self.deadline())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.last_now = self.last_now.max(now);
        match self.state {
            State::Unset | State::Dead => Ok(()),
            State::Ready => self.start_client(),
            State::Handshaking | State::Connected => {
                if timer::remaining(self.stream.ssl()).is_none() {
                    return Ok(());
                }
                match timer::handle(&mut self.stream) {
                    timer::Handled::NotExpired => Ok(()),
                    timer::Handled::Retransmitted => {
                        bump(&stats::RETRANSMISSIONS);
                        tracing::debug!(target: "tessera::dtls", active = self.active, "DTLS flight retransmitted");
                        Ok(())
                    }
                    timer::Handled::GaveUp => Err(self.fail(Error::RetransmitLimit)),
                }
            }
        }
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        if self.state == State::Dead || self.close_sent {
            return Err(Error::Closed.to_dtls_impl_error());
        }
        if data.is_empty() || self.state != State::Connected {
            return Ok(0);
        }
        match self.stream.ssl_write(data) {
            Ok(n) => Ok(n),
            Err(e) => {
                let detail = match e.ssl_error() {
                    Some(stack) => stack.to_string(),
                    None => e.to_string(),
                };
                Err(self.fail(Error::Record(detail)))
            }
        }
    }

    fn is_active(&self) -> bool {
        self.active
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        (self.state == State::Connected).then_some(ProtocolVersion::DTLS1_2)
    }

    fn is_closing(&self) -> bool {
        self.close_sent || self.close_received
    }

    fn is_closed(&self) -> bool {
        self.close_sent && self.stream.get_ref().outgoing.is_empty()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        match self.state {
            State::Connected => self.send_close_notify(),
            State::Dead => self.close_sent = true,
            State::Unset | State::Ready | State::Handshaking => {
                // Nothing to protect a close_notify with yet; stop the handshake.
                self.close_sent = true;
                self.state = State::Dead;
            }
        }
        Ok(())
    }
}
