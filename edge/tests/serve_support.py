"""Helpers of the server tests: ``cardrec-edge serve`` in a subprocess on 127.0.0.1, raw HTTP, headless Chromium."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest


@dataclass(frozen=True)
class Served:
    url: str       # http://127.0.0.1:PORT
    log: Path      # the server's stdout and stderr
    pid: int


@contextmanager
def running_server(bundle: Path, workdir: Path, *args: str, env: dict | None = None):
    """Start ``cardrec-edge serve`` (port 0, 1 thread, ``args`` appended) in its own process group with ``env``
    added to the environment; yield a ``Served``; always stop it."""
    log_path = workdir / f"server-{uuid.uuid4().hex[:6]}.log"
    cmd = [sys.executable, "-m", "cardrec_edge.cli", "serve", "--bundle", str(bundle), "--port", "0",
           "--db", str(workdir / "collection.sqlite"), "--threads", "1", *args]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
    try:
        deadline, url = time.monotonic() + 120, None
        while url is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start (exit {proc.poll()}):\n{log_path.read_text()[-4000:]}")
            m = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log_path.read_text())
            url = m.group(1) if m else None
            time.sleep(0.2)
        assert call(url + "/health")[0] == 200
        yield Served(url, log_path, proc.pid)
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen, grace: float = 20) -> None:
    """Stop a server started with ``start_new_session``: SIGTERM to its group, SIGKILL after ``grace`` s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
         timeout: float = 120) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one HTTP request; 4xx/5xx are returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def multipart(data: bytes, content_type: str = "image/png", field: str = "image") -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="card"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), \
        {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def encode(rgb: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def post_image(url: str, data: bytes, content_type: str = "image/png", headers: dict | None = None):
    body, h = multipart(data, content_type)
    return call(url + "/identify", "POST", body, {**h, **(headers or {})})


def chromium(*args: str, profile: Path, timeout: float = 120) -> str:
    """Run headless Debian chromium; its stdout (the DOM with --dump-dom)."""
    cmd = [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
           "--hide-scrollbars", "--force-device-scale-factor=1", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium timed out: {' '.join(cmd)}")
    assert proc.returncode == 0, err[-3000:]
    return out
