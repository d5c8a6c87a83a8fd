import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from dexego.annotate.caption import (
    UNCAPTIONED,
    CaptionConfig,
    ChatCaptioner,
    OfflineCaptioner,
    caption_frames,
    make_captioner,
)
from dexego.errors import DexegoError
from dexego.geometry import Intrinsics


class FakeChatServer:
    """A local OpenAI-compatible endpoint that records requests and answers with a fixed caption."""

    def __init__(self, status=200, reply="  Pick up the red cup and place it on the tray.  "):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, dict(self.headers), body))
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_chat_captioner_sends_frames_and_reads_caption(monkeypatch):
    monkeypatch.setenv("DEXEGO_CAPTION_API_KEY", "secret")
    frames = [np.full((32, 32, 3), i * 20, np.uint8) for i in range(8)]
    with FakeChatServer() as server:
        caption = ChatCaptioner(CaptionConfig(endpoint=server.url, model="vlm")).caption(frames, "right")
    assert caption.captioned and caption.text == "Pick up the red cup and place it on the tray."
    path, headers, body = server.requests[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer secret"
    content = body["messages"][0]["content"]
    images = [c for c in content if c["type"] == "image_url"]
    assert len(images) == 8 and body["model"] == "vlm"
    assert base64.b64decode(images[0]["image_url"]["url"].split(",", 1)[1])[:2] == b"\xff\xd8"  # JPEG
    assert "right palm" in content[0]["text"]


def test_errors_and_offline_fallback():
    with FakeChatServer(status=400) as server:
        with pytest.raises(DexegoError, match="HTTP 400"):
            ChatCaptioner(CaptionConfig(endpoint=server.url, retries=0)).caption(
                [np.zeros((8, 8, 3), np.uint8)], "left"
            )
    with FakeChatServer(reply="   ") as server:
        with pytest.raises(DexegoError, match="malformed"):
            ChatCaptioner(CaptionConfig(endpoint=server.url, retries=0)).caption(
                [np.zeros((8, 8, 3), np.uint8)], "left"
            )
    offline = make_captioner(CaptionConfig())
    assert isinstance(offline, OfflineCaptioner)
    assert offline.caption([], "left").text == UNCAPTIONED and not offline.caption([], "left").captioned


def test_caption_frames_draw_the_remaining_palm_path():
    k = Intrinsics.from_fov(np.radians(90), 64, 64)
    n = 20
    frames = np.zeros((n, 64, 64, 3), np.uint8)
    palms = np.stack([np.linspace(-0.8, 0.8, n), np.zeros(n), np.ones(n)], -1)[:, None]  # left to right, 1 m ahead
    drawn = caption_frames(frames, palms, np.ones((n, 1), bool), np.tile(np.eye(4), (n, 1, 1)), k)
    assert len(drawn) == 8
    first, last = drawn[0], drawn[-1]
    assert first[:, :20].any() and first[:, 44:].any()  # the whole path is ahead of the first frame
    assert not last[:, :20].any()  # at the last frame only its end point remains
