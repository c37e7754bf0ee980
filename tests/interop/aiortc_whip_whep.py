"""aiortc publishes a synthetic VP8 video (a moving pattern) and an Opus sine over WHIP; a second
aiortc peer plays the stream over WHEP and decodes it. Passes when, for the whole hold time, the
player's decoded video frames and audio frames keep increasing (checked every few seconds), no
peer connection leaves `connected`, both DELETEs answer 200 and the room has no stream left.

Run inside a private network namespace with only `lo` (tests/interop/run-in-netns.sh): aioice
skips 127.0.0.1 when gathering, so its host-address lookup is patched to return it, and no ICE
servers are configured. Usage: python aiortc_whip_whep.py <rest-base> <data-dir> [hold-seconds]
With WHEP_SERVER_OFFER=1 the player POSTs without a body, answers the server's offer and sends
its answer as a PATCH (application/sdp) on the session's location.
"""

import asyncio
import fractions
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import owt_rest  # noqa: E402
from owt_rest import log  # noqa: E402

import aioice.ice  # noqa: E402

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []

import av  # noqa: E402
from aiortc import (  # noqa: E402
    AudioStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)

WIDTH, HEIGHT = 320, 240
CHECK_EVERY = 3.0


class MovingBars(VideoStreamTrack):
    """A luma ramp that scrolls one step per frame, so every frame differs from the last."""

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        for i, plane in enumerate(frame.planes):
            rows = HEIGHT if i == 0 else HEIGHT // 2
            if i == 0:
                row = bytes(((x + 4 * self.n) * 2) & 0xFF for x in range(plane.line_size))
            else:
                row = bytes([90 if i == 1 else 170]) * plane.line_size
            plane.update(row * rows)
        frame.pts = pts
        frame.time_base = time_base
        self.n += 1
        return frame


class Sine(AudioStreamTrack):
    """A 440 Hz sine, 20 ms frames of 48 kHz mono s16."""

    RATE = 48000
    SAMPLES = 960

    def __init__(self):
        super().__init__()
        self.pts = 0
        self.start = None

    async def recv(self):
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        else:
            wait = self.start + self.pts / self.RATE - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
        samples = bytearray()
        for k in range(self.SAMPLES):
            v = int(8000 * math.sin(2 * math.pi * 440 * (self.pts + k) / self.RATE))
            samples += v.to_bytes(2, "little", signed=True)
        frame.planes[0].update(bytes(samples))
        frame.sample_rate = self.RATE
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, self.RATE)
        self.pts += self.SAMPLES
        return frame


def prefer(transceiver, mime):
    kind = mime.split("/")[0]
    codecs = [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() == mime]
    transceiver.setCodecPreferences(codecs)


def new_pc(name, failures):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))

    @pc.on("connectionstatechange")
    async def on_state():
        log(f"{name}: connection {pc.connectionState}")
        if pc.connectionState in ("failed", "closed", "disconnected"):
            failures.append(f"{name} connection {pc.connectionState}")

    return pc


async def wait_connected(pc, name, seconds=20):
    for _ in range(int(seconds * 10)):
        if pc.connectionState == "connected":
            return
        if pc.connectionState == "failed":
            raise RuntimeError(f"{name}: peer connection failed")
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{name}: not connected after {seconds} s: {pc.connectionState}")


async def exchange(pc, url, token, name):
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers before returning
    offer = pc.localDescription.sdp
    location, answer = owt_rest.post_sdp(url, token, offer)
    if os.environ.get("INTEROP_SDP"):
        log(f"{name} offer:\n{offer}\n{name} answer:\n{answer}")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return location


async def answer_server(pc, base, url, token, name):
    """WHEP with a server offer: POST without a body, answer, PATCH the answer."""
    location, offer = owt_rest.post_for_offer(url, token)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())  # aiortc gathers before returning
    answer = pc.localDescription.sdp
    if os.environ.get("INTEROP_SDP"):
        log(f"{name} server offer:\n{offer}\n{name} answer:\n{answer}")
    owt_rest.patch_answer(base, location, token, answer)
    return location


async def count(track, counters, key):
    try:
        while True:
            await track.recv()
            counters[key] += 1
    except Exception:  # MediaStreamError when the track ends
        pass


async def main():
    base, data_dir = sys.argv[1], sys.argv[2]
    hold = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    owt_rest.deadline(hold + 60, "the aiortc WHIP/WHEP scenario")
    rest, room, pub_token, sub_token = owt_rest.setup(base, data_dir, "aiortc-interop")
    failures = []
    pub = new_pc("publisher", failures)
    sub = new_pc("player", failures)
    ok = False
    try:
        prefer(pub.addTransceiver(Sine(), direction="sendonly"), "audio/opus")
        prefer(pub.addTransceiver(MovingBars(), direction="sendonly"), "video/vp8")
        pub_location = await exchange(pub, f"{base}/whip/{room}", pub_token, "publisher")
        await wait_connected(pub, "publisher")
        stream_id = pub_location.rsplit("/", 1)[-1]
        log(f"published: {pub_location}")
        await asyncio.to_thread(rest.listed, room, stream_id)

        counters = {"video": 0, "audio": 0}
        tasks = []

        @sub.on("track")
        def on_track(track):
            log(f"player: {track.kind} track")
            tasks.append(asyncio.ensure_future(count(track, counters, track.kind)))

        whep = f"{base}/whep/{room}/{stream_id}"
        if os.environ.get("WHEP_SERVER_OFFER") == "1":
            sub_location = await answer_server(sub, base, whep, sub_token, "player")
        else:
            sub.addTransceiver("audio", direction="recvonly")
            sub.addTransceiver("video", direction="recvonly")
            sub_location = await exchange(sub, whep, sub_token, "player")
        await wait_connected(sub, "player")
        log(f"playing ({'server' if os.environ.get('WHEP_SERVER_OFFER') == '1' else 'client'} offer): {sub_location}")

        # First frames within 10 s, then increasing in every window for `hold` seconds.
        for _ in range(100):
            if counters["video"] > 0 and counters["audio"] > 0:
                break
            await asyncio.sleep(0.1)
        if counters["video"] == 0 or counters["audio"] == 0:
            raise RuntimeError(f"no media decoded within 10 s: {counters}")
        start = asyncio.get_running_loop().time()
        last = dict(counters)
        while asyncio.get_running_loop().time() - start < hold:
            await asyncio.sleep(CHECK_EVERY)
            now = dict(counters)
            held = asyncio.get_running_loop().time() - start
            log(f"t={held:4.1f}s decoded video frames {now['video']}, audio frames {now['audio']}")
            if now["video"] <= last["video"] or now["audio"] <= last["audio"]:
                raise RuntimeError(f"media stopped at t={held:.1f}s: {last} -> {now}")
            if failures:
                raise RuntimeError(f"at t={held:.1f}s: {failures}")
            last = now
        log(f"held {hold:.0f} s: {counters}")
        # The server reads the picture size from libvpx's key frames and lists it.
        info = rest.call("GET", f"/v1/rooms/{room}/streams/{stream_id}")
        listed = info["media"]["video"].get("parameters", {}).get("resolution")
        log(f"resolution listed {listed}")
        if listed != {"width": WIDTH, "height": HEIGHT}:
            raise RuntimeError(f"listed resolution {listed}, sent {WIDTH}x{HEIGHT}")

        sub_del = owt_rest.delete(base, sub_location, sub_token)
        pub_del = owt_rest.delete(base, pub_location, pub_token)
        if sub_del != 200 or pub_del != 200:
            raise RuntimeError(f"DELETE answered {sub_del}/{pub_del}")
        after = rest.call("GET", f"/v1/rooms/{room}/streams")
        if after:
            raise RuntimeError(f"streams left after DELETE: {after}")
        for t in tasks:
            t.cancel()
        ok = True
        log(f"server counters:\n{rest.metrics_summary()}")
        log("PASS")
    except Exception as e:  # report, with the server's counters
        log(f"FAIL: {e!r}")
        print(rest.metrics_summary(), file=sys.stderr)
    finally:
        await sub.close()
        await pub.close()
    return ok


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(main()) else 1)
