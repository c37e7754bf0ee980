// Chromium publishes fake camera + mic over WHIP; a second page plays the stream over WHEP.
// Passes when the player decodes increasing numbers of video frames and receives audio, and
// both sessions end cleanly with DELETE. With a hold time, decoded frames and audio packets must
// also keep increasing in every 3 s window for that long, with both peer connections connected.
// WHIP_VIDEO_CODEC (e.g. H264) makes the publisher offer only that video codec (packetization
// mode 1 for H.264); the room must then list the stream with it. WHIP_SIMULCAST=1 publishes two
// simulcast layers (rids `h` at half size and `f`), and the room must list each layer's size.
// WHEP_SERVER_OFFER=1 makes the player POST without a body: the server offers, and the player
// answers with PATCH (application/sdp) on the session's location.
// Usage: node whip_whep.mjs <rest-base> <data-dir> [hold-seconds]
import { Rest, waitForFile, waitForHttp, servePage, launchChromium, deadline } from './lib.mjs';

const [base, dataDir, holdArg] = process.argv.slice(2);
const hold = Number(holdArg || 0);
const videoCodec = process.env.WHIP_VIDEO_CODEC || '';
const simulcast = process.env.WHIP_SIMULCAST === '1';
const serverOffer = process.env.WHEP_SERVER_OFFER === '1';
deadline(90_000 + hold * 1000, 'the WHIP/WHEP browser test');
await waitForHttp(`${base}/metrics`, 30_000);
const service = await waitForFile(`${dataDir}/service.json`, 30_000);
const rest = new Rest(base, service);
// AV1 is not in a room's default mediaIn (OWT's defaults: h264, vp8, vp9); the room allows it.
const options = videoCodec === 'AV1'
  ? { mediaIn: { audio: [{ codec: 'opus', sampleRate: 48000, channelNum: 2 }], video: [{ codec: 'av1' }, { codec: 'vp8' }] } }
  : undefined;
const room = (await rest.call('POST', '/v1/rooms', { name: 'whip-e2e', options }))._id;
const pubToken = await rest.token(room, 'camera', 'presenter');
const subToken = await rest.token(room, 'player', 'viewer');

const page = await servePage(`<!doctype html><html><body><script>
async function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise((r) => { pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r()); setTimeout(r, 3000); });
}
async function connected(pc) {
  if (pc.connectionState === 'connected') return;
  await new Promise((res, rej) => { pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'connected') res();
    if (pc.connectionState === 'failed') rej(new Error('peer connection failed'));
  }); setTimeout(() => rej(new Error('not connected after 20 s: ' + pc.connectionState)), 20000); });
}
async function exchange(url, token, pc) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await gathered(pc);
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token }, body: pc.localDescription.sdp });
  if (r.status !== 201) throw new Error(url + ' -> ' + r.status + ' ' + await r.text());
  const location = r.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
  return location;
}
window.publish = async (base, room, token, codec, simulcast) => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
  const pc = new RTCPeerConnection({ iceServers: [] });
  for (const t of stream.getTracks()) {
    const init = { direction: 'sendonly' };
    if (simulcast && t.kind === 'video') init.sendEncodings = [{ rid: 'h', scaleResolutionDownBy: 2 }, { rid: 'f' }];
    const tr = pc.addTransceiver(t, init);
    if (codec && t.kind === 'video') {
      const want = RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType.toLowerCase() === 'video/' + codec.toLowerCase() && !/packetization-mode=0/.test(c.sdpFmtpLine || ''));
      if (!want.length) throw new Error('this browser cannot send ' + codec);
      tr.setCodecPreferences(want);
    }
  }
  const location = await exchange(base + '/whip/' + room, token, pc);
  await connected(pc);
  window.pub = { pc, location };
  return location;
};
async function answerServer(base, url, token, pc) {
  const r = await fetch(url, { method: 'POST', headers: { Authorization: 'Bearer ' + token } });
  if (r.status !== 201) throw new Error(url + ' (no body) -> ' + r.status + ' ' + await r.text());
  if (!(r.headers.get('Content-Type') || '').startsWith('application/sdp')) throw new Error('the server offer is not application/sdp');
  const location = r.headers.get('Location');
  await pc.setRemoteDescription({ type: 'offer', sdp: await r.text() });
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  const a = await fetch(base + location, { method: 'PATCH', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token }, body: pc.localDescription.sdp });
  if (a.status !== 204) throw new Error('PATCH answer -> ' + a.status + ' ' + await a.text());
  return location;
}
window.play = async (base, url, token, serverOffer) => {
  const pc = new RTCPeerConnection({ iceServers: [] });
  let location;
  if (serverOffer) {
    location = await answerServer(base, url, token, pc);
  } else {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    location = await exchange(url, token, pc);
  }
  await connected(pc);
  window.sub = { pc, location };
  return location;
};
window.inbound = async () => {
  const out = { video: null, audio: null, state: window.sub.pc.connectionState };
  (await window.sub.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') out.video = { framesDecoded: s.framesDecoded || 0, width: s.frameWidth, height: s.frameHeight, nack: s.nackCount, pli: s.pliCount };
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audio = { packetsReceived: s.packetsReceived || 0 };
  });
  return out;
};
window.end = async (base, token, which) => {
  const s = window[which];
  const r = await fetch(base + s.location, { method: 'DELETE', headers: { Authorization: 'Bearer ' + token } });
  s.pc.close();
  return r.status;
};
</script></body></html>`);

const { browser, cleanup } = await launchChromium();
let ok = false;
try {
  const publisher = await browser.newPage();
  await publisher.goto(page.url);
  const pubLocation = await publisher.evaluate(([b, r, t, c, s]) => window.publish(b, r, t, c, s), [base, room, pubToken, videoCodec, simulcast]);
  const streamId = pubLocation.split('/').pop();
  console.log(`published: ${pubLocation}`);
  const listed0 = await rest.listed(room, streamId);
  console.log(`video format: ${JSON.stringify(listed0.media.video.format)}`);
  if (videoCodec && listed0.media.video.format.codec !== videoCodec.toLowerCase()) throw new Error(`published with ${listed0.media.video.format.codec}, wanted ${videoCodec}`);

  const player = await browser.newPage();
  await player.goto(page.url);
  const subLocation = await player.evaluate(([b, u, t, so]) => window.play(b, u, t, so), [base, `${base}/whep/${room}/${streamId}`, subToken, serverOffer]);
  console.log(`playing (${serverOffer ? 'server' : 'client'} offer): ${subLocation}`);
  let first = null;
  let last = null;
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 500));
    last = await player.evaluate(() => window.inbound());
    if (!first && last.video && last.video.framesDecoded > 0) first = last;
    if (first && last.video.framesDecoded > first.video.framesDecoded + 30 && last.audio && last.audio.packetsReceived > 50) break;
  }
  console.log(`inbound: ${JSON.stringify(last)}`);
  if (!first) throw new Error('no video frame decoded');
  if (!(last.video.framesDecoded > first.video.framesDecoded)) throw new Error('decoded frames do not increase');
  if (!(last.audio && last.audio.packetsReceived > 0)) throw new Error('no audio received');
  // The server reads the picture size from the publisher's key frames and lists it; it must
  // match what the player's decoder reports (Chromium may start smaller and scale up). With
  // simulcast, REST v1.1 lists every layer's size, and the size of the layer the player is
  // forwarded (the stats extension names it) must be the decoded one.
  let listed = null;
  let decoded = null;
  let layers = null;
  for (let i = 0; i < 40; i++) {
    const v = (await player.evaluate(() => window.inbound())).video;
    decoded = v && { width: v.width, height: v.height };
    if (simulcast) {
      const info = await rest.call('GET', `/v1.1/rooms/${room}/streams/${streamId}`);
      layers = info.media.video.original.map((o) => [o.simulcastRid, o.parameters && o.parameters.resolution]);
      const stats = await rest.call('GET', `/v1/rooms/${room}/streams/${streamId}/stats`);
      const sent = stats.subscriptions[0] && stats.subscriptions[0].tracks.find((t) => t.kind === 'video');
      listed = sent && layers[sent.layer] ? layers[sent.layer][1] : null;
    } else {
      const info = await rest.call('GET', `/v1/rooms/${room}/streams/${streamId}`);
      listed = info.media && info.media.video && info.media.video.parameters && info.media.video.parameters.resolution;
    }
    const known = !simulcast || layers.every(([, r]) => r);
    if (known && listed && decoded && listed.width === decoded.width && listed.height === decoded.height) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(`resolution listed ${JSON.stringify(listed)}, decoded ${JSON.stringify(decoded)}`);
  if (!listed || !decoded || listed.width !== decoded.width || listed.height !== decoded.height) throw new Error('the listed resolution is not the decoded one');
  if (simulcast) {
    console.log(`simulcast layers listed: ${JSON.stringify(layers)}`);
    const want = JSON.stringify([['h', { width: 320, height: 180 }], ['f', { width: 640, height: 360 }]]);
    if (JSON.stringify(layers) !== want) throw new Error(`simulcast layers: ${JSON.stringify(layers)}, want ${want}`);
  }
  const start = Date.now();
  let widest = last.video.width || 0;
  while (Date.now() - start < hold * 1000) {
    await new Promise((r) => setTimeout(r, 3000));
    const now = await player.evaluate(() => window.inbound());
    const pubState = await publisher.evaluate(() => window.pub.pc.connectionState);
    const t = ((Date.now() - start) / 1000).toFixed(1);
    console.log(`t=${t}s publisher ${pubState}, player ${JSON.stringify(now)}`);
    if (pubState !== 'connected' || now.state !== 'connected') throw new Error(`at t=${t}s: publisher ${pubState}, player ${now.state}`);
    if (!(now.video.framesDecoded > last.video.framesDecoded)) throw new Error(`video stopped at t=${t}s`);
    if (!(now.audio.packetsReceived > last.audio.packetsReceived)) throw new Error(`audio stopped at t=${t}s`);
    widest = Math.max(widest, now.video.width || 0);
    last = now;
  }
  // With simulcast the player starts on the low layer; its REMB only grows near what it gets,
  // so the server tries the top layer and keeps it once the estimate follows.
  if (simulcast && hold && widest !== 640) throw new Error(`the player never got the top layer (widest ${widest})`);
  if (hold) console.log(`held ${hold} s`);
  const participants = await rest.call('GET', `/v1/rooms/${room}/participants`);
  if (participants.length !== 2) throw new Error(`expected 2 participants, got ${JSON.stringify(participants)}`);

  const subDelete = await player.evaluate(([b, t]) => window.end(b, t, 'sub'), [base, subToken]);
  const pubDelete = await publisher.evaluate(([b, t]) => window.end(b, t, 'pub'), [base, pubToken]);
  if (subDelete !== 200 || pubDelete !== 200) throw new Error(`DELETE answered ${subDelete}/${pubDelete}`);
  const after = await rest.call('GET', `/v1/rooms/${room}/streams`);
  if (after.length !== 0) throw new Error(`streams left after DELETE: ${JSON.stringify(after)}`);
  ok = true;
  const counters = await (await fetch(`${base}/metrics`)).text();
  console.log(`server counters:\n${counters.split('\n').filter((l) => /^tessera_(dataplane|rtp|datagrams|ice)/.test(l) && !/ 0$/.test(l)).join('\n')}`);
  console.log('PASS');
} catch (e) {
  console.error(`FAIL: ${e.stack || e}`);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  console.error(metrics.split('\n').filter((l) => /^tessera_(dataplane|rtp|datagrams|transports|session|ice)/.test(l) && !/ 0$/.test(l)).join('\n'));
} finally {
  await browser.close();
  cleanup();
  page.server.close();
}
process.exit(ok ? 0 : 1);
