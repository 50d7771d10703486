"""Training profiles under results/profiling/<stage>/: step times, images/s, peak memory, a torch trace."""
from __future__ import annotations

import contextlib
import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass
class StepTiming:
    seconds: float = 0.0


class StepProfiler:
    """Times each step; with ``trace`` records steps ``first+1 .. first+trace_steps`` with torch.profiler."""

    def __init__(self, out_dir: str | Path, trace: bool, trace_steps: int, first_step: int):
        self.dir = Path(out_dir)
        self.trace_window = range(first_step + 1, first_step + 1 + trace_steps) if trace else range(0)
        self._n = first_step
        self._prof = None

    @contextlib.contextmanager
    def step(self):
        if self._n in self.trace_window and self._prof is None:
            self._prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True,
                                                profile_memory=True)
            self._prof.__enter__()
        timing = StepTiming()
        t0 = time.perf_counter()
        yield timing
        timing.seconds = round(time.perf_counter() - t0, 4)
        self._n += 1
        if self._prof is not None and self._n not in self.trace_window:
            self._prof.__exit__(None, None, None)
            self.dir.mkdir(parents=True, exist_ok=True)
            self._prof.export_chrome_trace(str(self.dir / "trace.json"))
            (self.dir / "ops.txt").write_text(self._prof.key_averages().table(sort_by="self_cpu_time_total",
                                                                               row_limit=30))
            self._prof = None

    def write(self, records: list[dict], images_per_step: int, world: int) -> dict:
        """profile.json: step-time percentiles, throughput and peak memory of this run."""
        secs = np.asarray([r["seconds"] for r in records], np.float64)
        steady = secs[1:] if len(secs) > 1 else secs  # step 0 includes one-off warm-up
        profile = {
            "steps": len(secs), "processes": world, "threads_per_process": torch.get_num_threads(),
            "images_per_step": images_per_step,
            "step_seconds": {"mean": _r(steady.mean()), "p50": _r(np.percentile(steady, 50)),
                             "p95": _r(np.percentile(steady, 95)), "first": _r(secs[0])} if len(secs) else None,
            "images_per_s": _r(images_per_step / steady.mean()) if len(secs) and steady.mean() > 0 else None,
            "train_seconds": _r(secs.sum()),
            "peak_rss_mb": _r(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "peak_cuda_mb": _r(torch.cuda.max_memory_allocated() / 2**20) if torch.cuda.is_available() else None,
            "trace": "trace.json" if (self.dir / "trace.json").exists() else None,
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "profile.json").write_text(json.dumps(profile, indent=1) + "\n")
        return profile


def _r(x: float) -> float:
    return round(float(x), 4)
