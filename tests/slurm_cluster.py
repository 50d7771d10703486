"""A real one-node Slurm for tests: munged, slurmctld and slurmd on 127.0.0.1, config and state in one temp dir.

Debian's `slurm-wlm` and `munge` (`make slurm`); the daemons are started here by hand (containers start no
services). No accounting (no slurmdbd), so Snakemake's executor must query job states with `squeue`
(`--slurm-status-command squeue`), which sees a finished job for `MinJobAge` seconds.

Clients find the config through SLURM_CONF, except one: inside a job, the executor's jobstep plugin (0.6.1)
drops every SLURM_* variable before it calls `srun`, SLURM_CONF included, so that `srun` looks where clients
look after /etc/slurm/slurm.conf: /run/slurm/conf/slurm.conf (where slurmd links its cache on a configless
site). Here /run/slurm/conf links to the temp dir: the one path outside it, removed at teardown, with a lock
that serialises test clusters on one machine.
"""
from __future__ import annotations

import fcntl
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun")
NODE = "localhost"
RUN_CONF = Path("/run/slurm/conf")  # clients' last place to look for slurm.conf (a configless slurmd's cache)
LOCK = Path("/run/lock/cardrec-test-slurm.lock")
PARTITIONS = ("main", "cardrec")  # the first is the default: a job lands in the second only when asked
MIN_JOB_AGE = 3600  # s a finished job stays visible to squeue/scontrol (executor: >= 3 x its first status wait)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str) -> str:
    sbin = (f"/usr/sbin/{name}", f"/sbin/{name}")  # daemons, off a non-root PATH
    found = shutil.which(name) or next((p for p in sbin if os.access(p, os.X_OK)), None)
    if not found:
        pytest.skip(f"{name} not installed: `make slurm` (apt-get install slurm-wlm munge) could not install it")
    return found


def node_hardware() -> dict[str, str]:
    """CPUs, sockets, cores, threads and RealMemory of this machine, as slurmd itself measures them (`slurmd -C`)."""
    out = subprocess.run([binary("slurmd"), "-C"], capture_output=True, text=True, timeout=30, check=True).stdout
    fields = dict(item.split("=", 1) for item in out.split() if "=" in item)
    keep = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
    return {k: fields[k] for k in keep if k in fields}


def _user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def slurm_conf(root: Path, munge_socket: Path) -> str:
    hw = " ".join(f"{k}={v}" for k, v in node_hardware().items())
    return f"""\
ClusterName=cardrec-test
SlurmctldHost={NODE}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser={_user()}
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge={MIN_JOB_AGE}
PlugStackConfig={root}/plugstack.conf
NodeName={NODE} NodeAddr=127.0.0.1 {hw} State=UNKNOWN
PartitionName={PARTITIONS[0]} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
PartitionName={PARTITIONS[1]} Nodes={NODE} MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    """The running daemons; ``env`` lets Slurm's clients (sbatch, squeue, ...) find this cluster."""

    root: Path
    conf: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    lock: object = None

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, SLURM_CONF=str(self.conf))

    def run(self, *cmd: str, timeout: float = 30) -> str:
        """A Slurm client command against this cluster; its stdout."""
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def job(self, jobid: str) -> dict[str, str]:
        """`scontrol show job` as a dict (JobState, Partition, Account, TRES, MinMemoryNode, Comment, ...)."""
        return dict(re.findall(r"(\S+?)=(\S*)", self.run("scontrol", "show", "job", "--oneliner", jobid)))

    def log(self, daemon: str) -> str:
        path = self.root / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, name: str, *cmd: str) -> None:
        out = open(self.root / f"{name}.out", "wb")
        self.procs[name] = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                out = (self.root / f"{name}.out").read_text(errors="replace")
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{out[-2000:]}\n{self.log(name)[-3000:]}")

    def wait_idle(self, timeout: float = 90) -> None:
        """Until sinfo shows the node idle (it accepts jobs)."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                state = self.run("sinfo", "--noheader", "--nodes", NODE, "-o", "%t", timeout=10).strip()
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                state = str(e)
            if state == "idle":
                return
            time.sleep(1)
        raise RuntimeError(f"node not idle after {timeout} s (sinfo: {state!r}):\n"
                           f"{self.log('slurmctld')[-3000:]}\n{self.log('slurmd')[-3000:]}")

    def stop(self) -> None:
        """Cancel this cluster's jobs, stop every daemon started here (slurmd first, munged last; kill what does
        not stop), remove the /run/slurm/conf link and release the lock."""
        if all(name in self.procs and self.procs[name].poll() is None for name in ("slurmctld", "slurmd")):
            try:
                self.run("scancel", "--full", f"--user={_user()}", timeout=20)
                deadline = time.monotonic() + 30
                while self.run("squeue", "--noheader", "-t", "RUNNING,PENDING,COMPLETING", timeout=10).strip():
                    if time.monotonic() > deadline:
                        break
                    time.sleep(1)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.procs.clear()
        if RUN_CONF.is_symlink() and Path(os.readlink(RUN_CONF)).is_relative_to(self.root):
            RUN_CONF.unlink()
            try:
                RUN_CONF.parent.rmdir()  # when nothing else is in /run/slurm
            except OSError:
                pass
        if self.lock is not None:
            self.lock.close()
            self.lock = None


def start_slurm(root: Path) -> SlurmCluster:
    """munged, slurmctld and slurmd with their config, key, sockets, state, spool and logs under ``root``."""
    if os.geteuid() != 0:
        pytest.skip("a test Slurm needs root (slurmd starts jobs as their user; /run/slurm/conf)")
    munged, slurmctld, slurmd = (binary(name) for name in DAEMONS)
    for name in CLIENTS:
        binary(name)
    if Path("/etc/slurm/slurm.conf").exists():
        pytest.skip("/etc/slurm/slurm.conf exists: srun inside the test's jobs would read it, not the test's config")
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir(exist_ok=True)
    (root / "munge").chmod(0o755)  # munged wants its socket's directory searchable by all
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    sock = root / "munge" / "munge.socket"
    (root / "plugstack.conf").write_text("")  # not /etc/slurm's
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, sock))
    cluster = SlurmCluster(root, conf, lock=_take_lock())
    try:
        if RUN_CONF.is_symlink() or RUN_CONF.exists():
            if RUN_CONF.is_symlink() and not RUN_CONF.exists():
                RUN_CONF.unlink()  # dangling: left by a test cluster that was killed
            else:
                pytest.skip(f"{RUN_CONF} exists: srun inside the test's jobs would read it, not the test's config")
        RUN_CONF.parent.mkdir(parents=True, exist_ok=True)
        RUN_CONF.symlink_to(root)
        cluster.start("munged", munged, "--foreground", "--force", f"--key-file={key}", f"--socket={sock}",
                      f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/munged.log",
                      f"--seed-file={root}/munge/munged.seed")
        _wait_for(lambda: sock.exists(), cluster, "munged socket")
        cluster.start("slurmctld", slurmctld, "-D", "-c", "-i", "-f", str(conf))
        cluster.start("slurmd", slurmd, "-D", "-N", NODE, "-f", str(conf))
        cluster.wait_idle()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_for(ready, cluster: SlurmCluster, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        cluster.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} after {timeout} s")
        time.sleep(0.2)


def _take_lock(timeout: float = 1200):
    """An exclusive lock for the machine's /run/slurm/conf link, waiting for another test cluster to finish."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    handle = open(LOCK, "w")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise RuntimeError(f"another test Slurm held {LOCK} for {timeout} s")
            time.sleep(2)

