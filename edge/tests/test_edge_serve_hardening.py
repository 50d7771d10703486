"""Issue 16, edge server: cross-site writes and DNS rebinding, CSV formula injection, token exposure, ignored
options, one request at a time. Real servers on 127.0.0.1, raw HTTP and headless Chromium."""
from __future__ import annotations

import asyncio
import csv
import http.server
import io
import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from edge_support import build_edge_bundle, card_face, on_mat
from serve_support import call, chromium, encode, multipart, post_image, running_server

TOKEN = "tok-3f9a1c7e5b"
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_edge_bundle(tmp_path_factory.mktemp("hardening_bundle"))


@pytest.fixture(scope="module")
def served(bundle, tmp_path_factory):
    with running_server(bundle, tmp_path_factory.mktemp("hardening"), "--allow-host", "cards.local") as s:
        yield s


def rows(url: str) -> list[dict]:
    status, _, body = call(url + "/collection")
    assert status == 200, body
    return json.loads(body)


def add(url: str, headers: dict, **fields) -> tuple[int, dict, bytes]:
    body = json.dumps({"card_id": "sv1-3", "quantity": 1, **fields}).encode()
    return call(url + "/collection", "POST", body, headers)


# --- cross-site writes and DNS rebinding ---------------------------------------------------------------------

def test_foreign_host_names_are_refused(served):
    port = served.url.rsplit(":", 1)[1]
    for path in ("/health", "/collection", "/collection.csv", "/"):
        status, _, body = call(served.url + path, headers={"Host": f"evil.example:{port}"})
        assert status == 403 and b"--allow-host" in body, (path, status, body[:200])
    status, _, body = add(served.url, {**JSON_HEADERS, "Host": "evil.example"})
    assert status == 403, body
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"cards.local:{port}", "CARDS.LOCAL."):
        assert call(served.url + "/health", headers={"Host": host})[0] == 200, host


def test_host_policy_by_bind_address():
    from cardrec_edge.server.guard import HostPolicy

    loop, every, lan = HostPolicy("127.0.0.1"), HostPolicy("0.0.0.0", ["Pi.Local"]), HostPolicy("192.168.1.7")
    assert all(loop.allows(h) for h in ("127.0.0.1:8000", "localhost", "[::1]:8000"))
    assert not any(loop.allows(h) for h in ("192.168.1.7:8000", "evil.example", "", None, "localhost.evil.example"))
    assert all(every.allows(h) for h in ("192.168.1.7:8000", "[fe80::1]:80", "localhost:1", "pi.local:8000"))
    assert not any(every.allows(h) for h in ("evil.example:8000", "pi.local.evil.example", "1.2.3.4.nip.io"))
    assert lan.allows("192.168.1.7:8000") and not lan.allows("localhost:8000") and not lan.allows("evil.example")
    assert HostPolicy("127.0.0.1", ["*"]).allows("anything.example")


def test_cross_origin_writes_are_refused(served):
    before = len(rows(served.url))
    attempts = [
        {"Origin": "http://evil.example", **JSON_HEADERS},
        {"Origin": "null", **JSON_HEADERS},
        {"Sec-Fetch-Site": "cross-site", **JSON_HEADERS},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1", **JSON_HEADERS},
    ]
    for headers in attempts:
        status, _, body = add(served.url, headers)
        assert status == 403 and b"cross-origin" in body, (headers, status, body)
    body, h = multipart(encode(card_face("sv1-5"), ".png"))
    status, _, answer = call(served.url + "/identify", "POST", body, {**h, "Origin": "http://evil.example"})
    assert status == 403, answer
    status, _, answer = call(served.url + "/collection/1", "DELETE", None, {"Origin": "http://evil.example"})
    assert status == 403, answer
    assert len(rows(served.url)) == before


def test_writes_need_json_and_the_pages_own_origin_is_accepted(served):
    before = len(rows(served.url))
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        status, _, body = add(served.url, {"Content-Type": ctype} if ctype else {})
        assert status == 415 and b"application/json" in body, (ctype, status, body)
    assert len(rows(served.url)) == before
    same = {"Origin": served.url, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json; charset=utf-8"}
    status, _, body = add(served.url, same)
    assert status == 201, body
    row_id = json.loads(body)["id"]
    assert call(f"{served.url}/collection/{row_id}", "DELETE", None, {"Origin": served.url})[0] == 200
    assert post_image(served.url, encode(card_face("sv1-5"), ".png"), headers={"Origin": served.url})[0] == 200


class _EvilPage(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args):
        pass


@contextmanager
def evil_site(target: str):
    """A second loopback server (another origin) whose page tries every write a web page can send."""
    html = f"""<!doctype html><html><body><p id="out">started</p><script>
const T = {json.dumps(target)};
const row = JSON.stringify({{card_id: 'sv1-3', quantity: 77}});
async function attempt(name, path, opts) {{
  try {{ const r = await fetch(T + path, opts); return name + ':' + r.type + ':' + r.status; }}
  catch (e) {{ return name + ':blocked'; }}
}}
(async () => {{
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array([137, 80, 78, 71])], {{type: 'image/png'}}), 'x.png');
  const log = [
    await attempt('text', '/collection', {{method: 'POST', mode: 'no-cors',
      headers: {{'Content-Type': 'text/plain'}}, body: row}}),
    await attempt('form', '/collection', {{method: 'POST', mode: 'no-cors',
      headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: row}}),
    await attempt('blob', '/collection', {{method: 'POST', mode: 'no-cors', body: new Blob([row])}}),
    await attempt('json', '/collection', {{method: 'POST', headers: {{'Content-Type': 'application/json'}},
      body: row}}),
    await attempt('delete', '/collection/1', {{method: 'DELETE'}}),
    await attempt('identify', '/identify', {{method: 'POST', mode: 'no-cors', body: form}}),
  ];
  document.getElementById('out').textContent = 'done ' + log.join(' ');
}})();
</script></body></html>"""
    handler = type("Evil", (_EvilPage,), {"page": html.encode()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_a_cross_origin_page_in_chromium_cannot_write(served, tmp_path):
    if shutil.which("chromium") is None:
        pytest.skip("Debian chromium not installed (make installs it)")
    before = rows(served.url)
    with evil_site(served.url) as page:
        dom = chromium("--virtual-time-budget=8000", "--dump-dom", page, profile=tmp_path / "evil")
    assert "done text:" in dom, dom[-2000:]  # the page's script ran every attempt
    after = rows(served.url)
    assert after == before, [r for r in after if r not in before]


def test_a_rebound_name_in_chromium_gets_nothing(served, tmp_path):
    """DNS rebinding: a page under a foreign name that resolves to the server is refused by Host."""
    if shutil.which("chromium") is None:
        pytest.skip("Debian chromium not installed (make installs it)")
    port = served.url.rsplit(":", 1)[1]
    dom = chromium("--host-resolver-rules=MAP rebind.example 127.0.0.1", "--dump-dom",
                   f"http://rebind.example:{port}/collection", profile=tmp_path / "rebind")
    assert "--allow-host" in dom and "card_id" not in dom, dom[-1000:]


# --- CSV formula injection -----------------------------------------------------------------------------------

def test_free_text_fields_only_take_their_allowed_values(served):
    for field, value in (("language", '=HYPERLINK("http://evil.example","x")'), ("language", "Klingon"),
                         ("condition", "@SUM(A1)"), ("printing", "+1")):
        status, _, body = add(served.url, JSON_HEADERS, **{field: value})
        assert status == 400 and field.encode() in body, (field, value, status, body)
    status, _, body = add(served.url, JSON_HEADERS, language="Japanese")
    assert status == 201 and json.loads(body)["language"] == "Japanese", body
    exported = list(csv.reader(io.StringIO(call(served.url + "/collection.csv")[2].decode())))
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for row in exported for cell in row)


# --- token exposure ------------------------------------------------------------------------------------------

def test_token_from_env_or_file_never_logged(bundle, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    for args, env in ((("--token-file", str(token_file)), None), ((), {"CARDREC_EDGE_TOKEN": TOKEN})):
        with running_server(bundle, tmp_path, *args, env=env) as s:
            assert TOKEN not in Path(f"/proc/{s.pid}/cmdline").read_text()
            assert json.loads(call(s.url + "/health")[2])["auth_required"] is True
            assert call(s.url + "/collection")[0] == 401
            good = {"Authorization": f"Bearer {TOKEN}"}
            status, _, body = post_image(s.url, encode(card_face("sv1-5"), ".png"), headers=good)
            assert status == 200, body
            scan = json.loads(body)["scan_id"]
            assert call(f"{s.url}/scans/{scan}?token={TOKEN}")[0] == 200
            assert call(f"{s.url}/collection.csv?x=1&token={TOKEN}")[0] == 200
            assert call(f"{s.url}/collection?token=wrong{TOKEN}")[0] == 401
        log = s.log.read_text()
        assert f"/scans/{scan}" in log and "token=" in log  # the access log is on, the value is not in it
        assert TOKEN not in log, log[-2000:]


def test_token_sources_conflict_or_empty_is_one_line(bundle, tmp_path):
    import subprocess
    import sys

    empty = tmp_path / "empty"
    empty.write_text("\n")
    for args in (["--token", "a", "--token-file", str(empty)], ["--token-file", str(empty)],
                 ["--token-file", str(tmp_path / "missing")]):
        out = subprocess.run([sys.executable, "-m", "cardrec_edge.cli", "serve", "--bundle", str(bundle),
                              "--port", "0", *args], capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


# --- options honoured ----------------------------------------------------------------------------------------

def test_serve_honours_recognition_options(bundle, tmp_path):
    png = encode(on_mat("sv1-5"), ".png")
    with running_server(bundle, tmp_path, "--top-k", "2", "--exact", "--max-glare", "0.5", "--no-second-look") as s:
        health = json.loads(call(s.url + "/health")[2])
        assert (health["top_k"], health["exact"], health["max_glare"], health["second_look"]) == (2, True, 0.5, False)
        status, _, body = post_image(s.url, png)
        assert status == 200, body
        card = next(c for c in json.loads(body)["cards"] if c["status"] == "identified")
        assert len(card["candidates"]) == 2 and card["card_id"] == "sv1-5"
    with running_server(bundle, tmp_path, "--min-blur", "1e9") as s:
        assert json.loads(call(s.url + "/health")[2])["min_blur"] == 1e9
        cards = json.loads(post_image(s.url, png)[2])["cards"]
        assert cards and all(c["status"] == "low_quality" and "blurry" in c["quality"]["reasons"][0] for c in cards)


# --- a bounded worker pool with back-pressure -----------------------------------------------------------------

def test_worker_pool_runs_in_parallel_and_refuses_beyond_its_queue():
    from cardrec_edge.server.workers import Busy, WorkerPool

    pool = WorkerPool(workers=2, queue=1)
    started, release = threading.Barrier(3, timeout=30), threading.Event()

    def job(i):
        if i < 2:
            started.wait()  # both workers run at the same time, or this barrier times out
        release.wait(30)
        return i

    async def main():
        running = [asyncio.ensure_future(pool.run(job, i)) for i in range(2)]
        await asyncio.to_thread(started.wait)
        queued = asyncio.ensure_future(pool.run(job, 2))
        await asyncio.sleep(0)
        with pytest.raises(Busy):
            await pool.run(job, 3)
        assert pool.pending == 3
        release.set()
        return await asyncio.gather(*running, queued)

    try:
        assert asyncio.run(main()) == [0, 1, 2]
        assert pool.pending == 0
    finally:
        pool.shutdown()


def test_identify_answers_503_with_retry_after_when_the_queue_is_full(bundle, tmp_path):
    import cv2
    import numpy as np

    big = cv2.resize(card_face("sv1-5"), (1500, 2100))
    frame = encode(np.pad(big, ((300, 300), (600, 600), (0, 0)), constant_values=200), ".png")
    with running_server(bundle, tmp_path, "--workers", "1", "--queue", "0") as s:
        assert json.loads(call(s.url + "/health")[2])["workers"] == 1
        with ThreadPoolExecutor(12) as ex:
            answers = list(ex.map(lambda _: post_image(s.url, frame), range(12)))
        codes = sorted(a[0] for a in answers)
        assert set(codes) == {200, 503}, codes
        busy = next(a for a in answers if a[0] == 503)
        assert int(busy[1]["retry-after"]) >= 1 and "busy" in json.loads(busy[2])["error"]
        assert call(s.url + "/health")[0] == 200
