"""`make run`'s closing message: the commands it prints run as printed on the run's own results."""
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = str(Path(sys.executable).parent)


def printed(workdir: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "cardrec.workflow.next_steps", "--bin", BIN], cwd=workdir,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip().startswith(f"{BIN}/")]


def test_without_a_run_it_says_so_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cardrec.workflow.next_steps"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "make run" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_printed_commands_work_on_the_run(tiny_run, tmp_path):
    identify, serve = printed(tiny_run)
    assert " identify " in identify and "results/frames/test/frame_0000.jpg" in identify
    proc = subprocess.run(shlex.split(identify), cwd=tiny_run, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "frame_0000.jpg" in proc.stdout
    # the web page, as printed plus a free port and a scratch collection
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen(shlex.split(serve) + ["--port", "0", "--db", str(tmp_path / "c.sqlite")],
                                  cwd=tiny_run, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, url = time.monotonic() + 120, None
        while url is None:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            m = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log.read_text())
            url = m.group(1) if m else None
            time.sleep(0.2)
        with urllib.request.urlopen(url + "/", timeout=60) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
