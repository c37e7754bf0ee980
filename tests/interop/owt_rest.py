"""Shared helpers of the Python interop scenarios: OWT's MAuth signing (spec §2.2), a REST
client for the management API, WHIP/WHEP calls and a watchdog. Standard library only, so the
scenarios run both in the test venv (aiortc) and with Debian's /usr/bin/python3 (webrtcbin's
`gi` bindings)."""

import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request


def mauth(service_id, key, user=None, role=None):
    ts = int(time.time() * 1000)
    cnonce = secrets.token_hex(8)
    to_sign = f"{ts},{cnonce}"
    extra = ""
    if user and role:
        u = base64.b64encode(user.encode()).decode()
        to_sign += f",{u},{role}"
        extra = f",mauth_username={u},mauth_role={role}"
    hexsig = hmac.new(key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    sig = base64.b64encode(hexsig.encode()).decode()
    return (
        "MAuth realm=http://marte3.dit.upm.es,mauth_signature_method=HMAC_SHA256,"
        f"mauth_serviceid={service_id},mauth_cnonce={cnonce},mauth_timestamp={ts}{extra},"
        f"mauth_signature={sig}"
    )


def http(method, url, body=None, headers=None, timeout=15):
    """Returns (status, headers, body text); HTTP errors are answers, not exceptions."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def wait_for_http(url, seconds=30):
    end = time.time() + seconds
    while time.time() < end:
        try:
            http("GET", url, timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def wait_for_service(data_dir, seconds=30):
    path = os.path.join(data_dir, "service.json")
    end = time.time() + seconds
    while time.time() < end:
        if os.path.exists(path):
            try:
                with open(path) as f:
                    return json.load(f)
            except ValueError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"{path} did not appear within {seconds} s")


class Rest:
    """The management REST API, signed with the super service's MAuth key."""

    def __init__(self, base, service):
        self.base = base
        self.service = service

    def call(self, method, path, body=None):
        headers = {
            "Authorization": mauth(self.service["id"], self.service["key"]),
            "Content-Type": "application/json",
        }
        status, _, text = http(
            method, self.base + path, None if body is None else json.dumps(body), headers
        )
        if status != 200:
            raise RuntimeError(f"{method} {path} -> {status} {text}")
        try:
            return json.loads(text)
        except ValueError:
            return text

    def token(self, room, user, role):
        return self.call("POST", f"/v1/rooms/{room}/tokens", {"user": user, "role": role})

    def listed(self, room, stream_id, seconds=10):
        """The stream's entry in `GET /v1/rooms/{room}/streams`. A publication is listed once
        the server has seen its transport connect, which can come a moment after the client
        reports `connected`: poll for up to `seconds`."""
        end = time.time() + seconds
        while True:
            streams = self.call("GET", f"/v1/rooms/{room}/streams")
            for s in streams:
                if s["id"] == stream_id:
                    return s
            if time.time() >= end:
                raise RuntimeError(f"stream {stream_id} not listed within {seconds} s: {streams}")
            time.sleep(0.1)

    def metrics_summary(self):
        """The non-zero data-plane counters, for failure reports."""
        _, _, text = http("GET", self.base + "/metrics")
        keep = ("tessera_dataplane", "tessera_rtp", "tessera_datagrams", "tessera_transports",
                "tessera_session", "tessera_ice")
        return "\n".join(
            line for line in text.splitlines()
            if line.startswith(keep) and not line.endswith(" 0")
        )


def setup(base, data_dir, room_name):
    """Waits for the server, creates a room and mints a presenter and a viewer token."""
    wait_for_http(base + "/metrics")
    rest = Rest(base, wait_for_service(data_dir))
    room = rest.call("POST", "/v1/rooms", {"name": room_name})["_id"]
    return rest, room, rest.token(room, "publisher", "presenter"), rest.token(room, "player", "viewer")


def post_sdp(url, token, offer):
    """WHIP/WHEP POST: returns (location, answer SDP); anything but 201 raises."""
    status, headers, text = http(
        "POST", url, offer,
        {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
    )
    if status != 201:
        raise RuntimeError(f"POST {url} -> {status} {text}")
    return headers["Location"], text


def post_for_offer(url, token):
    """WHEP with a server offer, first half: POST without a body; returns (location, the
    server's offer). Anything but 201 with application/sdp raises."""
    status, headers, offer = http("POST", url, None, {"Authorization": f"Bearer {token}"})
    if status != 201:
        raise RuntimeError(f"POST {url} (no body) -> {status} {offer}")
    if not (headers.get("Content-Type") or "").startswith("application/sdp"):
        raise RuntimeError(f"the server's offer is {headers.get('Content-Type')}")
    return headers["Location"], offer


def patch_answer(base, location, token, answer):
    """WHEP with a server offer, second half: PATCH the answer (application/sdp) on the
    session's location; anything but 204 raises."""
    status, _, text = http(
        "PATCH", base + location, answer,
        {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
    )
    if status != 204:
        raise RuntimeError(f"PATCH {location} -> {status} {text}")


def delete(base, location, token):
    status, _, _ = http("DELETE", base + location, headers={"Authorization": f"Bearer {token}"})
    return status


def deadline(seconds, what):
    """Ends the process after `seconds` whatever is going on: every test is bounded in time."""

    def fire():
        print(f"TIMEOUT: {what} did not finish within {seconds} s", file=sys.stderr, flush=True)
        os._exit(3)

    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)
