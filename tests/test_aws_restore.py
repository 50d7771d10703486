"""`cardrec aws restore --dvc` against moto_server: archived DVC objects refuse GET until restored."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .s3_servers import dvc, s3_env, sh

BUCKET = "cardrec-glacier"


def cardrec(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "cardrec.cli", *args], cwd=repo, capture_output=True, text=True,
                          env=s3_env(), timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"cardrec {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_repo(path: Path, endpoint: str) -> Path:
    """A git + DVC repo with one file and one directory out, its dvc.lock, and the S3 remote from config."""
    path.mkdir()
    (path / "data" / "dir").mkdir(parents=True)
    (path / "data" / "model.bin").write_bytes(bytes(range(256)) * 40)
    for i in range(3):
        (path / "data" / "dir" / f"f{i}.txt").write_text(f"file {i}\n")
    (path / "config.yaml").write_text(f"storage: {{bucket: {BUCKET}, project: demo, region: us-east-1, "
                                      f"endpoint_url: '{endpoint}'}}\n")
    (path / "dvc.yaml").write_text("stages:\n  make:\n    cmd: 'true'\n    outs: [data/model.bin, data/dir]\n")
    sh(path, "git", "init", "-q")
    dvc(path, "init", "-q")
    cardrec(path, "dvc-remote")
    dvc(path, "commit", "-f", "-q")
    dvc(path, "push", "-q")
    sh(path, "git", "add", "-A")
    sh(path, "git", "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-q", "-m", "run")
    return path


def archive_all(client, prefix: str) -> int:
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
            for o in page.get("Contents", [])]
    for key in keys:
        client.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": key},
                           StorageClass="GLACIER", MetadataDirective="COPY")
    return len(keys)


def test_restore_archived_dvc_objects(moto_s3, tmp_path):
    client = moto_s3.client()
    client.create_bucket(Bucket=BUCKET)
    repo = make_repo(tmp_path / "repo", moto_s3.endpoint)
    config = (repo / ".dvc" / "config").read_text()
    assert f"s3://{BUCKET}/project/demo/dvc" in config and "endpointurl" in config
    assert "secret" not in config.lower() and "access_key" not in config.lower()

    assert archive_all(client, "project/demo/dvc/") == 5  # model.bin, the .dir listing, its 3 files
    sh(tmp_path, "git", "clone", "-q", str(repo), "clone")
    clone = tmp_path / "clone"
    pulled = dvc(clone, "pull", check=False)
    assert pulled.returncode != 0 and "storage class" in pulled.stderr, pulled.stderr  # DVC cannot read GLACIER
    assert not (clone / "data" / "model.bin").exists()

    first = cardrec(repo, "aws", "restore", "--dvc", "--days", "2", "--tier", "Bulk", check=False)
    assert "restore requested now" in first.stdout, first.stdout + first.stderr
    again = cardrec(repo, "aws", "restore", "--dvc")  # moto completes restores at once
    assert "restored from archive" in again.stdout and "will work now" in again.stdout
    heads = [client.head_object(Bucket=BUCKET, Key=o["Key"])
             for o in client.list_objects_v2(Bucket=BUCKET, Prefix="project/demo/dvc/")["Contents"]]
    assert all('ongoing-request="false"' in h.get("Restore", "") for h in heads)

    dvc(clone, "pull", "-q")
    assert (clone / "data" / "model.bin").read_bytes() == (repo / "data" / "model.bin").read_bytes()
    assert sorted(p.name for p in (clone / "data" / "dir").iterdir()) == ["f0.txt", "f1.txt", "f2.txt"]


def test_restore_clear_errors(tmp_path, moto_s3):
    (tmp_path / "config.yaml").write_text(f"storage: {{bucket: {BUCKET}, endpoint_url: '{moto_s3.endpoint}'}}\n")
    no_lock = cardrec(tmp_path, "aws", "restore", "--dvc", check=False)
    assert no_lock.returncode == 2 and "no dvc.lock" in no_lock.stderr and "Traceback" not in no_lock.stderr
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  a:\n    cmd: 'true'\n    outs:\n"
                                       "    - path: x\n      md5: 0123456789abcdef0123456789abcdef\n")
    no_bucket = cardrec(tmp_path, "aws", "restore", "--dvc", check=False)
    assert no_bucket.returncode == 2 and "does not exist" in no_bucket.stderr and "Traceback" not in no_bucket.stderr
    (tmp_path / "config.yaml").write_text("storage: {bucket: b, endpoint_url: 'http://127.0.0.1:9'}\n")
    no_server = cardrec(tmp_path, "aws", "restore", "--dvc", check=False)
    assert no_server.returncode == 2 and "S3 request failed" in no_server.stderr, no_server.stderr
    (tmp_path / "config.yaml").write_text("storage: {bucket: null}\n")
    unset = cardrec(tmp_path, "aws", "restore", "--dvc", check=False)
    assert unset.returncode == 2 and "storage.bucket" in unset.stderr


@pytest.mark.parametrize("args", [["aws", "restore", "--help"], ["pull", "--help"], ["status", "--help"],
                                  ["dvc-yaml", "--help"], ["dvc-remote", "--help"], ["commit", "--help"]])
def test_help(args, tmp_path):
    out = cardrec(tmp_path, *args)
    assert "usage: cardrec" in out.stdout
