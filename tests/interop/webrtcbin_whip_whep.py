"""GStreamer 1.22 webrtcbin publishes videotestsrc (VP8) and audiotestsrc (Opus) over WHIP; a
second webrtcbin plays the stream over WHEP and decodes it. Passes when, for the whole hold time,
the player's decoded video frames and audio buffers keep increasing (checked every few seconds),
both webrtcbins stay `connected`, both DELETEs answer 200 and the room has no stream left.

webrtcbin is the interop case of an RSA DTLS certificate, SRTP_AES128_CM_SHA1_80 only, no mid
header extension, and ICE keep-alive by binding indications only (libnice). GStreamer 1.22
leaves `a=ssrc` out of its video m-line when it offers before the payloader's caps are known;
this pipeline's offer has them, so the publisher's offer goes out without the video m-line's
`a=ssrc`/`a=ssrc-group` lines: the server must route that video by its payload type.

Run with Debian's /usr/bin/python3 (the `gi` bindings) inside a private network namespace with
the veth pair (tests/e2e/run-in-netns.sh --veth): libnice never gathers on a LOOPBACK interface,
so its only host candidate is jb0's 127.0.0.2. UPnP and ICE-TCP are off.
Usage: webrtcbin_whip_whep.py <rest-base> <data-dir> [hold-seconds]
With WHEP_SERVER_OFFER=1 the player POSTs without a body, answers the server's offer (webrtcbin
makes a receive-only transceiver per offered m-line) and sends its answer as a PATCH
(application/sdp) on the session's location.
"""

import os
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402,F401  (Nice: the agent's type)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import owt_rest  # noqa: E402
from owt_rest import log  # noqa: E402

CHECK_EVERY = 3.0
VIDEO_CAPS = "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000"
AUDIO_CAPS = "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000"

PUBLISHER = f"""
webrtcbin name=webrtc bundle-policy=max-bundle
videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1
  ! videoconvert ! queue ! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=60 target-bitrate=300000
  ! rtpvp8pay ! {VIDEO_CAPS} ! webrtc.
audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! queue ! opusenc
  ! rtpopuspay ! {AUDIO_CAPS} ! webrtc.
"""

PLAYER = "webrtcbin name=webrtc bundle-policy=max-bundle"


def without_video_ssrcs(sdp):
    """The SDP without `a=ssrc`/`a=ssrc-group` lines in its video m-sections."""
    out, video = [], False
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            video = line.startswith("m=video")
        if video and line.startswith(("a=ssrc:", "a=ssrc-group:")):
            continue
        out.append(line)
    return "\r\n".join(out)


class Peer:
    """One webrtcbin in its own pipeline, driven step by step from the main thread."""

    def __init__(self, name, description):
        self.name = name
        parsed = Gst.parse_launch(description)
        if isinstance(parsed, Gst.Pipeline):
            self.pipeline = parsed
        else:  # a description of one element parses to that element
            self.pipeline = Gst.Pipeline.new(name)
            self.pipeline.add(parsed)
        self.webrtc = self.pipeline.get_by_name("webrtc")
        # webrtcbin leaves its ICE object floating; the Python wrapper sinks it and would free it
        # when dropped, so these references live as long as the peer.
        self.ice = self.webrtc.get_property("ice-agent")
        self.ice.set_property("ice-tcp", False)
        self.agent = self.ice.get_property("agent")
        self.agent.set_property("upnp", False)
        self.negotiation_needed = threading.Event()
        self.webrtc.connect("on-negotiation-needed", lambda *_: self.negotiation_needed.set())
        self.counts = {"video": 0, "audio": 0}

    def check_bus(self):
        bus = self.pipeline.get_bus()
        while True:
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            if msg is None:
                return
            err, debug = msg.parse_error()
            raise RuntimeError(f"{self.name}: pipeline error: {err.message} ({debug})")

    def promise(self, signal, *args):
        p = Gst.Promise.new()
        self.webrtc.emit(signal, *args, p)
        if p.wait() != Gst.PromiseResult.REPLIED:
            raise RuntimeError(f"{self.name}: {signal} was not answered")
        reply = p.get_reply()
        if reply is not None and reply.has_field("error"):
            raise RuntimeError(f"{self.name}: {signal} failed: {reply.get_value('error')}")
        return reply

    def offer_and_answer(self, url, token, munge=None):
        """Offer (after ICE gathering completes), WHIP/WHEP POST, answer; returns the location.
        `munge` rewrites the offer text sent to the server (webrtcbin keeps its own)."""
        reply = self.promise("create-offer", None)
        offer = reply.get_value("offer")
        self.promise("set-local-description", offer)
        sdp = self.wait_gathered()
        if munge is not None:
            sdp = munge(sdp)
        location, answer = owt_rest.post_sdp(url, token, sdp)
        if os.environ.get("INTEROP_SDP"):
            log(f"{self.name} offer:\n{sdp}\n{self.name} answer:\n{answer}")
        res, msg = GstSdp.SDPMessage.new_from_text(answer)
        if res != GstSdp.SDPResult.OK:
            raise RuntimeError(f"{self.name}: unreadable answer:\n{answer}")
        desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        self.promise("set-remote-description", desc)
        return location

    def wait_gathered(self):
        end = time.time() + 10
        while self.webrtc.get_property("ice-gathering-state") != GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            if time.time() > end:
                raise RuntimeError(f"{self.name}: ICE gathering did not complete within 10 s")
            time.sleep(0.05)
        # Keep the description referenced while its SDP is read (as with promise replies).
        desc = self.webrtc.get_property("local-description")
        sdp = desc.sdp.as_text()
        if "a=candidate" not in sdp:
            raise RuntimeError(f"{self.name}: no ICE candidate gathered:\n{sdp}")
        return sdp

    def answer_server_offer(self, base, url, token):
        """WHEP with a server offer: POST without a body, answer (after ICE gathering
        completes), PATCH the answer; returns the location."""
        location, offer = owt_rest.post_for_offer(url, token)
        res, msg = GstSdp.SDPMessage.new_from_text(offer)
        if res != GstSdp.SDPResult.OK:
            raise RuntimeError(f"{self.name}: unreadable offer:\n{offer}")
        desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, msg)
        self.promise("set-remote-description", desc)
        # Keep `reply` referenced while the answer is used: with only the answer kept, the
        # reply's Python wrapper goes at once and the answer was seen without its SDP.
        reply = self.promise("create-answer", None)
        answer = reply.get_value("answer")
        if answer is None or answer.sdp is None:
            raise RuntimeError(f"{self.name}: create-answer gave no answer to:\n{offer}")
        self.promise("set-local-description", answer)
        sdp = self.wait_gathered()
        if os.environ.get("INTEROP_SDP"):
            log(f"{self.name} server offer:\n{offer}\n{self.name} answer:\n{sdp}")
        owt_rest.patch_answer(base, location, token, sdp)
        return location

    def state(self):
        return self.webrtc.get_property("connection-state")

    def wait_connected(self, seconds=20):
        end = time.time() + seconds
        while time.time() < end:
            self.check_bus()
            s = self.state()
            if s == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
                return
            if s == GstWebRTC.WebRTCPeerConnectionState.FAILED:
                raise RuntimeError(f"{self.name}: peer connection failed")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: not connected after {seconds} s: {self.state().value_nick}")

    def decode_incoming(self):
        """Decodes every incoming stream into a fakesink, counting decoded buffers per kind."""

        def on_pad(_, pad):
            if pad.direction != Gst.PadDirection.SRC:
                return
            caps = pad.get_current_caps().get_structure(0)
            kind = caps.get_string("media")
            chain = {
                "video": "queue ! rtpvp8depay ! vp8dec ! fakesink name=sink sync=false",
                "audio": "queue ! rtpopusdepay ! opusdec ! fakesink name=sink sync=false",
            }.get(kind)
            log(f"{self.name}: incoming {kind} stream ({caps.get_string('encoding-name')})")
            if chain is None:
                return
            branch = Gst.parse_bin_from_description(chain, True)
            self.pipeline.add(branch)
            branch.sync_state_with_parent()
            pad.link(branch.get_static_pad("sink"))

            def count(_pad, _info):
                self.counts[kind] += 1
                return Gst.PadProbeReturn.OK

            branch.get_by_name("sink").get_static_pad("sink").add_probe(
                Gst.PadProbeType.BUFFER, count
            )

        self.webrtc.connect("pad-added", on_pad)

    def stop(self):
        self.pipeline.set_state(Gst.State.NULL)


def main():
    base, data_dir = sys.argv[1], sys.argv[2]
    hold = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    owt_rest.deadline(hold + 60, "the webrtcbin WHIP/WHEP scenario")
    Gst.init(None)
    # webrtcbin's internals (libnice, the DTLS elements) run on their own GLib main contexts;
    # a default main loop runs too for anything scheduled there.
    loop = GLib.MainLoop()
    threading.Thread(target=loop.run, daemon=True).start()
    rest, room, pub_token, sub_token = owt_rest.setup(base, data_dir, "webrtcbin-interop")
    pub = Peer("publisher", PUBLISHER)
    sub = Peer("player", PLAYER)
    ok = False
    try:
        for i in range(2):
            t = pub.webrtc.emit("get-transceiver", i)
            t.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        pub.pipeline.set_state(Gst.State.PLAYING)
        if not pub.negotiation_needed.wait(10):
            raise RuntimeError("publisher: no on-negotiation-needed within 10 s")
        pub_location = pub.offer_and_answer(f"{base}/whip/{room}", pub_token, without_video_ssrcs)
        pub.wait_connected()
        stream_id = pub_location.rsplit("/", 1)[-1]
        log(f"published: {pub_location}")
        rest.listed(room, stream_id)

        whep = f"{base}/whep/{room}/{stream_id}"
        server_offer = os.environ.get("WHEP_SERVER_OFFER") == "1"
        if not server_offer:
            recv = GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY
            sub.webrtc.emit("add-transceiver", recv, Gst.Caps.from_string(AUDIO_CAPS))
            sub.webrtc.emit("add-transceiver", recv, Gst.Caps.from_string(VIDEO_CAPS))
        sub.decode_incoming()
        sub.pipeline.set_state(Gst.State.PLAYING)
        if server_offer:
            sub_location = sub.answer_server_offer(base, whep, sub_token)
        else:
            sub_location = sub.offer_and_answer(whep, sub_token)
        sub.wait_connected()
        log(f"playing ({'server' if server_offer else 'client'} offer): {sub_location}")

        end = time.time() + 10
        while time.time() < end and (sub.counts["video"] == 0 or sub.counts["audio"] == 0):
            sub.check_bus()
            time.sleep(0.1)
        if sub.counts["video"] == 0 or sub.counts["audio"] == 0:
            raise RuntimeError(f"no media decoded within 10 s: {sub.counts}")
        start = time.time()
        last = dict(sub.counts)
        connected = GstWebRTC.WebRTCPeerConnectionState.CONNECTED
        while time.time() - start < hold:
            time.sleep(CHECK_EVERY)
            pub.check_bus()
            sub.check_bus()
            now = dict(sub.counts)
            held = time.time() - start
            log(f"t={held:4.1f}s decoded video frames {now['video']}, audio buffers {now['audio']}")
            if pub.state() != connected or sub.state() != connected:
                raise RuntimeError(
                    f"at t={held:.1f}s: publisher {pub.state().value_nick}, "
                    f"player {sub.state().value_nick}"
                )
            if now["video"] <= last["video"] or now["audio"] <= last["audio"]:
                raise RuntimeError(f"media stopped at t={held:.1f}s: {last} -> {now}")
            last = now
        log(f"held {hold:.0f} s: {sub.counts}")
        # The server reads the picture size from vp8enc's key frames and lists it.
        info = rest.call("GET", f"/v1/rooms/{room}/streams/{stream_id}")
        listed = info["media"]["video"].get("parameters", {}).get("resolution")
        log(f"resolution listed {listed}")
        if listed != {"width": 320, "height": 240}:
            raise RuntimeError(f"listed resolution {listed}, sent 320x240")

        sub_del = owt_rest.delete(base, sub_location, sub_token)
        pub_del = owt_rest.delete(base, pub_location, pub_token)
        if sub_del != 200 or pub_del != 200:
            raise RuntimeError(f"DELETE answered {sub_del}/{pub_del}")
        after = rest.call("GET", f"/v1/rooms/{room}/streams")
        if after:
            raise RuntimeError(f"streams left after DELETE: {after}")
        ok = True
        log(f"server counters:\n{rest.metrics_summary()}")
        log("PASS")
    except Exception as e:  # report, with the server's counters
        log(f"FAIL: {e!r}")
        print(rest.metrics_summary(), file=sys.stderr)
    finally:
        sub.stop()
        pub.stop()
        loop.quit()
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
