// Shared helpers of the browser end-to-end tests: OWT's MAuth signing (spec §2.2), a REST
// client, a static page server on another origin, and Debian's Chromium through playwright-core.
import crypto from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export function mauth(id, key, user, role) {
  const ts = Date.now();
  const cnonce = crypto.randomBytes(8).toString('hex');
  let toSign = `${ts},${cnonce}`;
  let extra = '';
  if (user && role) {
    const u = Buffer.from(user).toString('base64');
    toSign += `,${u},${role}`;
    extra = `,mauth_username=${u},mauth_role=${role}`;
  }
  const hex = crypto.createHmac('sha256', key).update(toSign).digest('hex');
  const sig = Buffer.from(hex).toString('base64');
  return `MAuth realm=http://marte3.dit.upm.es,mauth_signature_method=HMAC_SHA256,mauth_serviceid=${id},mauth_cnonce=${cnonce},mauth_timestamp=${ts}${extra},mauth_signature=${sig}`;
}

export class Rest {
  constructor(base, service) {
    this.base = base;
    this.service = service;
  }
  async call(method, p, body) {
    const r = await fetch(this.base + p, {
      method,
      headers: { Authorization: mauth(this.service.id, this.service.key), 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`${method} ${p} -> ${r.status} ${text}`);
    try { return JSON.parse(text); } catch { return text; }
  }
  token(room, user, role) {
    return this.call('POST', `/v1/rooms/${room}/tokens`, { user, role });
  }
  // The stream's entry in `GET /v1/rooms/{room}/streams`. A publication is listed once the
  // server has seen its transport connect, which can come a moment after the client's
  // `connected`: poll for up to `ms`.
  async listed(room, streamId, ms = 10000) {
    const end = Date.now() + ms;
    for (;;) {
      const streams = await this.call('GET', `/v1/rooms/${room}/streams`);
      const s = streams.find((x) => x.id === streamId);
      if (s) return s;
      if (Date.now() >= end) throw new Error(`stream ${streamId} not listed within ${ms} ms: ${JSON.stringify(streams)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function waitForFile(file, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${file} did not appear within ${ms} ms`);
}

export async function waitForHttp(url, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { await fetch(url); return; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

// A page served from another origin than the REST API, as a real application would be.
// `files` maps extra paths to local files (scripts the page loads).
export function servePage(html, files = {}) {
  const server = http.createServer((req, res) => {
    const file = files[req.url];
    if (file) {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end(fs.readFileSync(file));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(html);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/` })));
}

export async function launchChromium(extraArgs = []) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', ...extraArgs,
    ],
  });
  return { browser, cleanup: () => fs.rmSync(userDataDir, { recursive: true, force: true }) };
}

// Fails the process after `ms` whatever is going on: every test is bounded in time.
export function deadline(ms, what) {
  const t = setTimeout(() => {
    console.error(`TIMEOUT: ${what} did not finish within ${ms} ms`);
    process.exit(3);
  }, ms);
  t.unref();
}
