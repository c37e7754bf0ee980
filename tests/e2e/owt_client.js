// A minimal OWT client for the browser, written from the protocol (owt-compat-spec.md §3) with
// socket.io-client and the standard WebRTC API: what the OWT JS SDK does, small enough to read.
window.OwtClient = class OwtClient {
  constructor() {
    this.events = [];
    this.waiters = [];
    this.pc = null;
    this.sessions = {};
  }
  record(event, data) {
    this.events.push({ event, data });
    this.waiters = this.waiters.filter((w) => !(w.match(event, data) && (w.resolve({ event, data }), true)));
  }
  waitFor(match, ms = 20000, what = 'event') {
    const found = this.events.find((e) => match(e.event, e.data));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      this.waiters.push({ match, resolve });
      setTimeout(() => reject(new Error('timed out waiting for ' + what)), ms);
    });
  }
  request(name, data) {
    return new Promise((resolve, reject) => {
      const done = (status, result) => (status === 'ok' ? resolve(result) : reject(new Error(name + ': ' + result)));
      if (data === undefined) this.socket.emit(name, done); else this.socket.emit(name, data, done);
      setTimeout(() => reject(new Error(name + ': no ack')), 15000);
    });
  }
  async login(token) {
    const t = JSON.parse(atob(token));
    this.socket = io((t.secure ? 'https://' : 'http://') + t.host, { reconnection: false, 'force new connection': true });
    for (const e of ['participant', 'stream', 'text', 'progress', 'drop']) this.socket.on(e, (d) => this.record(e, d));
    this.info = await this.request('login', { token, userAgent: { sdk: { version: '5.1', type: 'JavaScript' } }, protocol: '1.2' });
    return this.info;
  }
  peer() {
    if (this.pc) return this.pc;
    this.pc = new RTCPeerConnection({ iceServers: [] });
    this.pc.onicecandidate = (e) => {
      if (e.candidate && this.transportId) {
        this.request('soac', { id: this.transportId, signaling: { type: 'candidate', candidate: { candidate: 'a=' + e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex } } }).catch(() => {});
      }
    };
    return this.pc;
  }
  async negotiate(kind, request) {
    const pc = this.peer();
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const ack = await this.request(kind, request(pc));
    this.transportId = ack.transportId;
    const answer = this.waitFor((e, d) => e === 'progress' && d.id === ack.transportId && d.status === 'soac', 20000, 'the answer');
    await this.request('soac', { id: ack.transportId, signaling: { type: 'offer', sdp: pc.localDescription.sdp } });
    await pc.setRemoteDescription((await answer).data.data);
    await this.waitFor((e, d) => e === 'progress' && d.sessionId === ack.id && (d.status === 'ready' || d.status === 'error'), 20000, 'session ready').then((r) => {
      if (r.data.status === 'error') throw new Error('session failed: ' + r.data.data);
    });
    return ack.id;
  }
  async publish() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
    const pc = this.peer();
    for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: 'sendonly' });
    return this.negotiate('publish', (pc) => {
      const tracks = pc.getTransceivers().map((tr) => ({ type: tr.sender.track.kind, mid: tr.mid, source: tr.sender.track.kind === 'audio' ? 'mic' : 'camera' }));
      return { media: { tracks }, attributes: { from: 'e2e' }, transport: { type: 'webrtc' } };
    });
  }
  async subscribe(streamId) {
    const pc = this.peer();
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    return this.negotiate('subscribe', (pc) => {
      const tracks = pc.getTransceivers().map((tr) => ({ type: tr.receiver.track.kind, mid: tr.mid, from: streamId }));
      return { media: { tracks }, transport: { type: 'webrtc' } };
    });
  }
  async inbound() {
    const out = { video: null, audio: null };
    (await this.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') out.video = { framesDecoded: s.framesDecoded || 0 };
      if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audio = { packetsReceived: s.packetsReceived || 0 };
    });
    return out;
  }
};
