"""Downloads retry on server errors and resume partial files (against a local HTTP server)."""
import http.server
import threading

import pytest

from cardrec.data.download import download_set, fetch

PAYLOAD = bytes(range(256)) * 400


class Handler(http.server.BaseHTTPRequestHandler):
    fails_left = 0
    ranges = []

    def do_GET(self):  # noqa: N802
        if self.path == "/missing.png":
            self.send_error(404)
            return
        if Handler.fails_left:
            Handler.fails_left -= 1
            self.send_error(503)
            return
        rng = self.headers.get("Range")
        Handler.ranges.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Handler.fails_left, Handler.ranges = 0, []
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_retry_after_server_errors(server, tmp_path):
    Handler.fails_left = 2
    out = fetch(f"{server}/a.png", tmp_path / "a.png", backoff=0.01)
    assert out.read_bytes() == PAYLOAD


def test_resume_from_partial_file(server, tmp_path):
    (tmp_path / "b.png.part").write_bytes(PAYLOAD[:1000])
    fetch(f"{server}/b.png", tmp_path / "b.png", backoff=0.01)
    assert (tmp_path / "b.png").read_bytes() == PAYLOAD
    assert Handler.ranges == ["bytes=1000-"]


def test_404_is_reported_not_retried_forever(server, tmp_path):
    cards = [{"id": "s-1", "images": {"large": f"{server}/a.png"}},
             {"id": "s-2", "images": {"large": f"{server}/missing.png"}}, {"id": "s-3"}]
    result = download_set(cards, tmp_path)
    assert result["downloaded"] == 1 and (tmp_path / "s-1.png").exists()
    assert {f["id"] for f in result["failed"]} == {"s-2", "s-3"}
