// OWT protocol end to end in Chromium: two participants log in through the portal with REST
// tokens; one publishes fake camera + mic; the other sees the `stream` notification, subscribes
// and decodes frames; muting shows up as a stream update; a text message arrives; a third
// participant publishes and the subscriber switches its subscription to that stream with
// subscription-control (no renegotiation), and keeps decoding after the first stream is
// unpublished; logout removes the participant from the REST list.
// Usage: node portal.mjs <rest-base> <data-dir>
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rest, waitForFile, waitForHttp, servePage, launchChromium, deadline } from './lib.mjs';

deadline(120_000, 'the portal browser test');
const here = path.dirname(fileURLToPath(import.meta.url));
const [base, dataDir] = process.argv.slice(2);
await waitForHttp(`${base}/metrics`, 30_000);
const service = await waitForFile(`${dataDir}/service.json`, 30_000);
const rest = new Rest(base, service);
const room = (await rest.call('POST', '/v1/rooms', { name: 'portal-e2e' }))._id;
const aliceToken = await rest.token(room, 'alice', 'presenter');
const bobToken = await rest.token(room, 'bob', 'viewer');
const carolToken = await rest.token(room, 'carol', 'presenter');

const page = await servePage('<!doctype html><html><head><script src="/socket.io.min.js"></script><script src="/owt_client.js"></script></head><body></body></html>', {
  '/socket.io.min.js': path.join(here, 'node_modules/socket.io-client/dist/socket.io.min.js'),
  '/owt_client.js': path.join(here, 'owt_client.js'),
});
const { browser, cleanup } = await launchChromium();
let ok = false;
try {
  const alice = await browser.newPage();
  const bob = await browser.newPage();
  await alice.goto(page.url);
  await bob.goto(page.url);
  await alice.evaluate(() => { window.c = new OwtClient(); });
  await bob.evaluate(() => { window.c = new OwtClient(); });

  const aliceInfo = await alice.evaluate((t) => window.c.login(t), aliceToken);
  if (!aliceInfo.reconnectionTicket) throw new Error('no reconnection ticket');
  if (aliceInfo.room.participants.length !== 1 || aliceInfo.room.participants[0].id !== aliceInfo.id) throw new Error(`login participants: ${JSON.stringify(aliceInfo.room.participants)}`);
  const bobInfo = await bob.evaluate((t) => window.c.login(t), bobToken);
  if (bobInfo.room.participants.length !== 2) throw new Error(`bob sees ${JSON.stringify(bobInfo.room.participants)}`);
  await alice.evaluate((id) => window.c.waitFor((e, d) => e === 'participant' && d.action === 'join' && d.data.id === id, 10000, 'bob joining'), bobInfo.id);
  console.log(`logged in: alice=${aliceInfo.id} bob=${bobInfo.id}`);

  const streamId = await alice.evaluate(() => window.c.publish());
  console.log(`published ${streamId}`);
  const added = await bob.evaluate((id) => window.c.waitFor((e, d) => e === 'stream' && d.status === 'add' && d.id === id, 15000, 'stream add'), streamId);
  const tracks = added.data.data.media.tracks;
  if (added.data.data.info.owner !== aliceInfo.id || tracks.length !== 2 || !tracks.every((t) => t.id.startsWith(`${tracks[0].id.split('-')[0]}-`))) throw new Error(`stream info: ${JSON.stringify(added.data)}`);

  const subId = await bob.evaluate((id) => window.c.subscribe(id), streamId);
  console.log(`subscribed ${subId}`);
  let first = null;
  let last = null;
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 500));
    last = await bob.evaluate(() => window.c.inbound());
    if (!first && last.video && last.video.framesDecoded > 0) first = last;
    if (first && last.video.framesDecoded > first.video.framesDecoded + 30 && last.audio && last.audio.packetsReceived > 50) break;
  }
  console.log(`inbound: ${JSON.stringify(last)}`);
  if (!first || !(last.video.framesDecoded > first.video.framesDecoded)) throw new Error('no increasing decoded frames');
  if (!(last.audio && last.audio.packetsReceived > 0)) throw new Error('no audio');

  await alice.evaluate((id) => window.c.request('stream-control', { id, operation: 'pause', data: 'video' }), streamId);
  await bob.evaluate((id) => window.c.waitFor((e, d) => e === 'stream' && d.id === id && d.status === 'update' && d.data.field === 'video.status' && d.data.value === 'inactive', 10000, 'mute update'), streamId);
  await alice.evaluate((id) => window.c.request('stream-control', { id, operation: 'play', data: 'video' }), streamId);
  await bob.evaluate((id) => window.c.waitFor((e, d) => e === 'stream' && d.id === id && d.status === 'update' && d.data.field === 'video.status' && d.data.value === 'active', 10000, 'unmute update'), streamId);
  console.log('mute/unmute seen');

  await alice.evaluate((to) => window.c.request('text', { to, message: 'hello bob' }), bobInfo.id);
  const text = await bob.evaluate(() => window.c.waitFor((e) => e === 'text', 10000, 'text'));
  if (text.data.from !== aliceInfo.id || text.data.message !== 'hello bob' || text.data.to !== 'me') throw new Error(`text: ${JSON.stringify(text)}`);
  console.log('text received');

  // Carol publishes; Bob switches his subscription to her stream without renegotiating, and
  // keeps decoding once Alice's stream is gone.
  const carol = await browser.newPage();
  await carol.goto(page.url);
  await carol.evaluate(() => { window.c = new OwtClient(); });
  const carolInfo = await carol.evaluate((t) => window.c.login(t), carolToken);
  const carolStream = await carol.evaluate(() => window.c.publish());
  await bob.evaluate((id) => window.c.waitFor((e, d) => e === 'stream' && d.status === 'add' && d.id === id, 15000, 'carol stream add'), carolStream);
  await bob.evaluate(([id, from]) => window.c.request('subscription-control', { id, operation: 'update', data: { audio: { from }, video: { from } } }), [subId, carolStream]);
  console.log(`switched ${subId} to ${carolStream}`);
  await alice.evaluate((id) => window.c.request('unpublish', { id }), streamId);
  await new Promise((r) => setTimeout(r, 1000));
  const afterSwitch = await bob.evaluate(() => window.c.inbound());
  let later = afterSwitch;
  for (let i = 0; i < 20 && !(later.video.framesDecoded > afterSwitch.video.framesDecoded + 30); i++) {
    await new Promise((r) => setTimeout(r, 500));
    later = await bob.evaluate(() => window.c.inbound());
  }
  console.log(`after the switch: ${JSON.stringify(afterSwitch)} -> ${JSON.stringify(later)}`);
  if (!(later.video.framesDecoded > afterSwitch.video.framesDecoded + 30)) throw new Error('no frames decoded from the new source');
  if (!(later.audio.packetsReceived > afterSwitch.audio.packetsReceived)) throw new Error('no audio from the new source');
  const lost = await bob.evaluate((id) => window.c.events.some((ev) => ev.event === 'progress' && ev.data.sessionId === id && ev.data.status === 'error'), subId);
  if (lost) throw new Error('the switched subscription was told its source is lost');

  const before = await rest.call('GET', `/v1/rooms/${room}/participants`);
  if (before.length !== 3) throw new Error(`participants before logout: ${JSON.stringify(before)}`);
  await bob.evaluate(() => window.c.request('logout'));
  await alice.evaluate((id) => window.c.waitFor((e, d) => e === 'participant' && d.action === 'leave' && d.data === id, 10000, 'bob leaving'), bobInfo.id);
  const after = await rest.call('GET', `/v1/rooms/${room}/participants`);
  if (after.length !== 2 || after.some((p) => p.id === bobInfo.id) || !after.some((p) => p.id === carolInfo.id)) throw new Error(`participants after logout: ${JSON.stringify(after)}`);
  const streams = await rest.call('GET', `/v1/rooms/${room}/streams`);
  if (streams.length !== 1 || streams[0].id !== carolStream) throw new Error(`streams: ${JSON.stringify(streams)}`);
  ok = true;
  console.log('PASS');
} catch (e) {
  console.error(`FAIL: ${e.stack || e}`);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  console.error(metrics.split('\n').filter((l) => /^tessera_(dataplane|rtp|datagrams|transports|session)/.test(l) && !/ 0$/.test(l)).join('\n'));
} finally {
  await browser.close();
  cleanup();
  page.server.close();
}
process.exit(ok ? 0 : 1);
