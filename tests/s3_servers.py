"""Real S3-compatible servers for tests: SeaweedFS (`weed mini`) and `moto_server`, on random free ports."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "cardrec-test-key"
SECRET_KEY = "cardrec-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} not installed (pip install -e '.[test]')")
    return found


@dataclass
class Server:
    """A running server process; ``endpoint`` is its S3 URL."""

    proc: subprocess.Popen
    endpoint: str
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash or a lost connection would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def s3_env() -> dict[str, str]:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_DEFAULT_REGION="us-east-1", DVC_NO_ANALYTICS="1")
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(key, None)
    return env


def _wait_ready(server: Server, bucket: str | None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited ({server.proc.returncode}):\n{server.log.read_text()[-3000:]}")
        try:
            c = server.client()
            names = [b["Name"] for b in c.list_buckets()["Buckets"]]
            if bucket is None or bucket in names:
                return
            c.create_bucket(Bucket=bucket)
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"server not ready after {timeout:.0f} s: {last}\n{server.log.read_text()[-3000:]}")


def start_seaweedfs(data_dir: Path, bucket: str, port: int | None = None) -> Server:
    """`weed mini` on 127.0.0.1 with every port random (other users may run one too), one bucket."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    ports = {k: free_port() for k in ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                                      "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc")}
    cmd = [tool("weed"), "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data_dir}", f"-s3.port={port}",
           "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", f"-bucket={bucket}",
           *(f"-{k}={v}" for k, v in ports.items())]
    log = data_dir.parent / f"{data_dir.name}.log"
    proc = subprocess.Popen(cmd, stdout=log.open("a"), stderr=subprocess.STDOUT, env=s3_env(),
                            start_new_session=True, cwd=data_dir)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    _wait_ready(server, bucket)
    return server


def start_moto(workdir: Path) -> Server:
    port = free_port()
    log = workdir / "moto.log"
    proc = subprocess.Popen([tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log.open("a"),
                            stderr=subprocess.STDOUT, env=s3_env(), start_new_session=True)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    _wait_ready(server, None)
    return server


def sh(cwd: Path, *cmd: str, check: bool = True, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, env=dict(s3_env(), **env),
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(cwd, str(Path(sys.executable).parent / "dvc"), *args, check=check)
