"""Training mechanics on a tiny shard: samplers, determinism, checkpoints + resume, DDP with 2 CPU ranks."""
import contextlib
import hashlib
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cardrec.training.samplers import grouped_batch, mined_groups, random_batch, variant_groups

N_CARDS = 8
CONTRACT = {"height": 64, "width": 48, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "pad_value": 0}
TEACHER = {"arch": "vit_small_patch16_dinov3", "model_kwargs": {"depth": 1, "embed_dim": 64, "num_heads": 2},
           "embed_dim": 32, "steps": 6, "batch_cards": 4, "views": 2, "lr": 0.001, "weight_decay": 0.0,
           "temperature": 0.1, "w_arcface": 0.5, "arcface_margin": 0.2, "arcface_scale": 30.0, "seed": 5}
STUDENT = {"arch": "efficientnet_lite0", "stage1": {
    "steps": 12, "batch_cards": 4, "views": 2, "lr": 0.001, "weight_decay": 0.0, "temperature": 0.1, "w_distill": 1.0,
    "w_relational": 1.0, "w_contrastive": 0.5, "seed": 2}}


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    """A shard of 8 distinct random 'cards' (two share a name) and teacher targets for them."""
    d = tmp_path_factory.mktemp("shard") / "set1"
    d.mkdir()
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 255, (N_CARDS, 112, 80, 3), dtype=np.uint8)
    np.save(d / "faces.npy", faces)
    np.save(d / "gallery.npy", faces[:, ::2, ::2])
    names = ["Pikachu", "Pikachu ex", "pikachu EX", "Mew", "Eevee", "Onix", "Zubat", "Ekans"]
    (d / "cards.json").write_text(json.dumps([{"id": f"s-{i}", "name": n} for i, n in enumerate(names)]))
    emb = rng.normal(size=(N_CARDS, 32)).astype(np.float32)
    np.save(d.parent / "teacher.npy", emb / np.linalg.norm(emb, axis=1, keepdims=True))
    return d


def run_job(shard, out, stage="teacher", run=None, background=False, **over):
    """Train a stage in a fresh Python process (as the Snakemake script would), via dist.launch."""
    run = {"checkpoint_dir": str(out / "ckpt"), "checkpoint_every": 2, **(run or {})}
    kwargs = {"shards": [str(shard)], "out_model": str(out / "model.pt"), "out_metrics": str(out / "metrics.csv"),
              "profile_dir": str(out / "profile"), "contract": CONTRACT, "augment": {}, "run": run,
              "unknown_fraction": 0.0}
    if stage == "teacher":
        target, kwargs["cfg"] = "cardrec.training.teacher:train_teacher", {**TEACHER, **over}
    else:
        target = "cardrec.training.student:train_student"
        kwargs.update(cfg={**STUDENT, "stage1": {**STUDENT["stage1"], **over}}, stage="stage1",
                      teacher_emb=[str(shard.parent / "teacher.npy")])
    code = ("import json, sys; from cardrec.training.dist import launch; "
            "a = json.loads(sys.argv[1]); launch(a['target'], a['kwargs'], a['processes'], 2)")
    arg = json.dumps({"target": target, "kwargs": kwargs, "processes": run.get("processes", 1)})
    cmd = [sys.executable, "-c", code, arg]
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "model.pt"


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def loss_column(out):
    return [float(r.split(",")[3]) for r in (out / "metrics.csv").read_text().splitlines()[1:]]


def test_random_and_grouped_batches():
    rng = np.random.default_rng(0)
    b = random_batch(10, 4, rng)
    assert len(set(b.tolist())) == 4
    groups = [np.array([i, (i + 1) % 6]) for i in range(6)]
    b = grouped_batch(groups, 4, np.random.default_rng(1))
    assert len(b) == len(set(b.tolist())) == 4
    first = int(b[0])
    assert int(b[1]) == (first + 1) % 6  # an anchor is followed by its group


def test_variant_groups_bind_same_name_prints():
    cards = [{"name": "Pikachu ex"}, {"name": "Mew"}, {"name": "PIKACHU EX"}, {"name": "Pikachu"}]
    groups = variant_groups(cards)
    assert groups[0].tolist() == [0, 2] and groups[2].tolist() == [2, 0]
    assert groups[1].tolist() == [1] and groups[3].tolist() == [3]
    b = grouped_batch(groups, 2, np.random.default_rng(3))
    assert set(b.tolist()) in ({0, 2}, {1, 0}, {1, 2}, {3, 0}, {3, 2}, {1, 3}) and len(b) == 2


def test_mined_groups_from_csv(tmp_path):
    (tmp_path / "hn.csv").write_text("card_id,rank,neighbor_id\na,1,c\na,2,b\nb,1,a\nx,1,a\n")
    groups = mined_groups(str(tmp_path / "hn.csv"), ["a", "b", "c"])
    assert [g.tolist() for g in groups] == [[0, 2, 1], [1, 0], [2]]


def test_same_config_same_checkpoint_hash(shard, tmp_path):
    a = run_job(shard, tmp_path / "a")
    b = run_job(shard, tmp_path / "b")
    assert sha(a) == sha(b)
    c = run_job(shard, tmp_path / "c", seed=6)
    assert sha(c) != sha(a)
    assert not list((tmp_path / "a" / "ckpt").rglob("*.pt"))  # checkpoints are cleared after success
    assert (tmp_path / "a" / "profile" / "profile.json").exists()


@pytest.fixture(scope="module")
def straight_stage1(shard, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    return run_job(shard, out, stage="stage1"), out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_resume_after_interrupt_is_bit_identical(shard, straight_stage1, tmp_path, sig):
    straight, straight_out = straight_stage1
    out = tmp_path / "interrupted"
    proc = run_job(shard, out, stage="stage1", background=True)
    ckpt_dir = out / "ckpt" / "stage1"
    deadline = time.time() + 300
    while not list(ckpt_dir.glob("step_*.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0, "the run finished before it could be interrupted"
    assert not (out / "model.pt").exists()
    left = sorted(ckpt_dir.glob("step_*.pt"))
    assert left and not list(ckpt_dir.glob("*.tmp*")), log[-2000:]
    if sig == signal.SIGTERM:
        assert "stopped by signal" in log
    resumed = run_job(shard, out, stage="stage1")
    assert sha(resumed) == sha(straight)
    assert loss_column(out) == loss_column(straight_out)


def test_checkpoint_from_another_config_is_not_resumed(shard, tmp_path):
    out = tmp_path / "x"
    run_job(shard, out, run={"keep_after_success": True})
    assert list((out / "ckpt" / "teacher").glob("step_*.pt"))
    other = run_job(shard, tmp_path / "y", run={"checkpoint_dir": str(out / "ckpt")}, lr=0.002)
    fresh = run_job(shard, tmp_path / "z", lr=0.002)
    assert sha(other) == sha(fresh)


def test_ddp_two_gloo_ranks_match_one_process(shard, tmp_path):
    """Global batch: 2 ranks x half the images, gathered, give the one-process losses (teacher: no BatchNorm)."""
    run_job(shard, tmp_path / "one")
    two = run_job(shard, tmp_path / "two", run={"processes": 2})
    assert two.exists()
    np.testing.assert_allclose(loss_column(tmp_path / "two"), loss_column(tmp_path / "one"), rtol=2e-4)
    profile = json.loads((tmp_path / "two" / "profile" / "profile.json").read_text())
    assert profile["processes"] == 2 and profile["threads_per_process"] == 1


def test_ddp_batch_must_split_evenly(shard, tmp_path):
    with pytest.raises(AssertionError, match="multiple of training.processes"):
        run_job(shard, tmp_path / "odd", run={"processes": 2}, batch_cards=3, views=1)


def test_ddp_failure_names_the_failing_rank_and_its_error(shard, tmp_path):
    """The launcher's own last line carries the rank's error, not "see the log" (torchrun's output above it
    grows with the checkout path and would push the cause out of any tail the caller shows)."""
    proc = run_job(shard, tmp_path / "odd", run={"processes": 2}, background=True, batch_cards=3, views=1)
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 1
    last = out.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: torchrun with 2 processes on node 0 of 1 failed (exit 1): rank ")
    assert "ValueError: global batch of 3 images does not split over 2 processes" in last
    assert "multiple of training.processes" in last


def test_sigterm_to_the_launcher_reaches_every_rank(tmp_path):
    """SIGTERM to the process that called launch() (Snakemake cancelling the job, a spot interruption) is
    passed to each torchrun rank, so training ranks checkpoint instead of being orphaned."""
    import os
    from pathlib import Path

    code = ("import sys; from cardrec.training.dist import launch; "
            "launch('tests.dist_probe:wait_for_sigterm', {'out': sys.argv[1]}, 2, 2)")
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    ready = [tmp_path / f"rank{r}.ready" for r in (0, 1)]
    try:
        deadline = time.time() + 120
        while not all(p.exists() and p.read_text() for p in ready) and time.time() < deadline:
            assert proc.poll() is None, proc.communicate()[0][-3000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 60
        while not all((tmp_path / f"rank{r}.sigterm").exists() for r in (0, 1)) and time.time() < deadline:
            time.sleep(0.1)
        assert [(tmp_path / f"rank{r}.sigterm").exists() for r in (0, 1)] == [True, True]
        out = proc.communicate(timeout=60)[0]
        assert proc.returncode == 1
        assert "stopped by SIGTERM: rank " in out.strip().splitlines()[-1]
        assert "stopped by signal" in out.strip().splitlines()[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in ready:  # ranks run in their own sessions: end the ones this test started, if any are left
            if p.exists() and p.read_text():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(p.read_text()), signal.SIGKILL)
