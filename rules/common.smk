import glob
from pathlib import Path

from snakemake.utils import validate

from cardrec.cost.training import TRAINING_STAGES, training_benchmark


validate(config, schema="../config/schema.yaml")


def stop_if_times_not_restored():
    """After a plain `dvc pull`/`dvc checkout` the artifacts' times are in arbitrary order: say so in one line
    and stop before planning (cardrec.repro.mtimes). Not in `--touch` runs (that is how `cardrec pull` restores)."""
    import sys

    if workflow.exec_mode.name != "DEFAULT" or {"--touch", "-t"} & set(sys.argv):
        return
    from cardrec.repro.mtimes import unrestored_message

    message = unrestored_message(Path.cwd())
    if message:
        print(message, file=sys.stderr)
        sys.exit(1)


stop_if_times_not_restored()


wildcard_constraints:
    set=r"[A-Za-z0-9_.]+",
    model="teacher|stage1|stage2|fp32|int8",
    stage="stage1|stage2",
    variant="teacher|stage1|stage2|fp32|int8|hef|phash",


def half_the_cores():
    """Threads of a short per-set job: process start-up and model loading are most of its time, so two such jobs
    side by side finish sooner than one after the other with every core."""
    return max(1, workflow.cores // 2)


def canonical(value):
    """A copy with dict keys sorted: Snakemake compares params by their text, so YAML key order must not matter."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def get_config(dpath):
    """Config section at ``dpath`` ("a/b"), canonicalised for use as rule params."""
    value = config
    for key in dpath.split("/"):
        value = value.get(key) if isinstance(value, dict) else None
    return canonical(value)


def get_student_params(stage):
    """Architecture plus this stage's settings only: a stage-2 change leaves stage 1 up to date."""
    student = config["student"]
    return canonical({"arch": student["arch"], "pretrained": student.get("pretrained"), stage: student[stage]})


def _cards_json_files():
    """Metadata files of data.source=files, from a path, a list or a glob."""
    spec = config["data"]["cards_json"]
    if not spec:
        raise ValueError("config key data.cards_json is required when data.source is 'files'")
    patterns = [spec] if isinstance(spec, str) else spec
    files = sorted(f for p in patterns for f in glob.glob(p))
    if not files:
        raise ValueError(f"config key data.cards_json matched no file: {spec!r}")
    return {Path(f).stem: f for f in files}


def is_synthetic():
    return config["data"]["source"] == "synthetic"


def _select(all_sets, key):
    wanted = config["data"][key]
    if wanted == "all":
        return list(all_sets)
    unknown = sorted(set(wanted) - set(all_sets))
    if unknown:
        raise ValueError(f"config key data.{key} names unknown sets {unknown}; known: {sorted(all_sets)}")
    return [s for s in all_sets if s in wanted]


def get_sets():
    """Every ingested set: they all go into the reference index."""
    if is_synthetic():
        return _select([s["id"] for s in config["synthetic"]["sets"]], "sets")
    return _select(list(_cards_json_files()), "sets")


def get_train_sets():
    """Sets the models train on; adding another set never makes a model stale."""
    return _select(get_sets(), "train_sets")


def get_student_stage_inputs(wildcards):
    """Stage 2 starts from stage 1 and trains on the mined hard negatives; stage 1 needs neither."""
    if wildcards.stage == "stage2":
        return {"init": "results/student/stage1/model.pt", "negatives": "results/mining/hard_negatives.csv"}
    return {}


def sagemaker_job_record(stage):
    """The training rule's job record (``results/jobs/<stage>.json``, read by the cost report) as a declared
    output when compute.backend is sagemaker; nothing locally."""
    if (config.get("compute") or {}).get("backend", "local") != "sagemaker":
        return {}
    return {"job": f"results/jobs/{stage}.json"}


def get_synthetic_params(wildcards):
    """The synthetic seed and the sets up to this one: adding a later set leaves earlier ones untouched."""
    sets = config["synthetic"]["sets"]
    upto = next(i for i, s in enumerate(sets) if s["id"] == wildcards.set)
    return canonical({"seed": config["synthetic"]["seed"], "sets": sets[: upto + 1]})


def get_set_json(wildcards):
    if is_synthetic():
        return f"results/synthetic/cards/en/{wildcards.set}.json"
    return _cards_json_files()[wildcards.set]


def get_set_images(wildcards):
    """A synthetic set's image directory, or the set's image files (so one changed file is noticed)."""
    if is_synthetic():
        return f"results/synthetic/images/{wildcards.set}"
    if config["data"].get("download"):
        return f"results/download/{wildcards.set}.done"
    from cardrec.data.ingest import card_ids, set_images

    ids = card_ids(_cards_json_files()[wildcards.set])
    return [str(p) for p in set_images(Path(config["data"]["images_dir"]), wildcards.set, ids)]


def get_images_dir():
    return "results/synthetic/images" if is_synthetic() else config["data"]["images_dir"]


def shard_files(sets, name="gallery.npy"):
    return [f"results/preprocess/{s}/{name}" for s in sets]


def query_files(sets):
    return [f"results/queries/{s}/images.npy" for s in sets]


def embedding_files(model, sets):
    return [f"results/embeddings/{model}/{s}.npy" for s in sets]


MODEL_FILES = {
    "teacher": "results/teacher/model.pt",
    "stage1": "results/student/stage1/model.pt",
    "stage2": "results/student/stage2/model.pt",
    "fp32": "results/export/student_dynamic.onnx",
    "int8": "results/export/student_int8.onnx",
}


def get_model_file(wildcards):
    return MODEL_FILES[wildcards.model]


def get_eval_inputs(wildcards):
    """A variant is scored on every set's queries, with its own gallery embeddings (phash: none)."""
    inputs = {
        "contract": "results/preprocess/contract.json",
        "gallery": shard_files(get_sets()),
        "queries": query_files(get_sets()),
    }
    if wildcards.variant in MODEL_FILES:
        inputs["model"] = MODEL_FILES[wildcards.variant]
        inputs["embeddings"] = embedding_files(wildcards.variant, get_sets())
    elif wildcards.variant == "hef":  # emulator embeddings, and the bundle's pairing: the deployed model's gallery
        inputs["hef_gallery"] = "results/hailo/embeddings/gallery.npy"
        inputs["hef_queries"] = "results/hailo/embeddings/queries.npy"
        inputs["embeddings"] = embedding_files(config["deploy"]["model"], get_sets())
        inputs["deployed_metrics"] = f"results/evaluate/{config['deploy']['model']}/metrics.json"
    return inputs


def get_eval_variants():
    variants = ["phash", "teacher", "stage1", "stage2", "fp32", "int8"]
    if "hef" in config["export"]["targets"]:
        variants.append("hef")
    return variants


def get_deployed_model():
    return MODEL_FILES[config["deploy"]["model"]]


def warn_if_hef_unavailable():
    """Targets that need the Hailo DFC are named at planning time, before hours of training."""
    if "hef" not in config["export"]["targets"] or config["hailo"].get("docker_image"):
        return
    import importlib.util

    if importlib.util.find_spec("hailo_sdk_client") is None:
        from cardrec.hailo.dfc import UNAVAILABLE_MESSAGE

        logger.warning(f"export.targets asks for a HEF: {UNAVAILABLE_MESSAGE}")


def report_description():
    """The report opens on the run's headline figures (rule report_front) once it made them, else the description."""
    front = Path("results/report/front.rst")
    return str(front.absolute()) if front.exists() else "report/workflow.rst"


def get_final_output():
    warn_if_hef_unavailable()
    targets = [
        "results/edge/manifest.json",
        "results/evaluate/summary.json",
        "results/evaluate/summary.md",  # crop-level and whole-frame (edge runtime) figures
        "results/report/front.rst",  # the report's front page: headline figures and plots
        "results/cost/training_cost.json",
    ]
    if "hef" in config["export"]["targets"]:
        targets.append("results/hailo/student.hef")
    return targets


def runtime_sources():
    """The edge runtime's modules (detection, verification, the frame pipeline and the CLI that runs it): a rule whose
    figures come from running it (the bundle's calibration, the whole-frame evaluation) is stale when one changes,
    so that its figures are always the shipped runtime's. Files of the repository, never in remote storage."""
    import sys

    sources = sorted(glob.glob("edge/src/cardrec_edge/*.py"))
    if not sources:
        print("the edge runtime's sources (edge/src/cardrec_edge/*.py) are not in the working directory: run "
              "snakemake from the repository", file=sys.stderr)
        sys.exit(1)
    return [local(f) for f in sources]


INT8_KEYS = {  # what only a side model's INT8 rule reads (quantize_segmenter, quantize_corner_refiner)
    "segmenter": ("calibration", "min_mask_agreement"),
    "corners": ("calibration", "max_int8_shift"),
}
RECORDS = {"segmenter": "results/segmenter/segmenter.json", "corners": "results/corners/refiner.json"}


def get_side_training(section):
    """A side model's config section less what only its INT8 export reads: a calibration or gate change never
    retrains it."""
    return canonical({k: v for k, v in config[section].items() if k not in INT8_KEYS[section]})


def get_side_record(section):
    """A side model's training record (its loss curve goes in the report's training plot), if this config trains
    one."""
    return [RECORDS[section]] if config[section]["enabled"] else []


def get_training_benchmarks():
    """Benchmark files of the training jobs this config runs, by step (the cost report prices their seconds)."""
    files = {stage: training_benchmark(stage) for stage in TRAINING_STAGES}
    if config["segmenter"]["enabled"]:
        files["segmenter"] = training_benchmark("segmenter")
    if config["corners"]["enabled"]:
        files["corners"] = training_benchmark("corners")
    return files


def get_bundle_inputs(wildcards):
    inputs = {
        "runtime": runtime_sources(),  # calibration runs the runtime's frame path
        "model": get_deployed_model(),
        "embeddings": "results/index/embeddings.npy",
        "index": "results/index/gallery.usearch",
        "projection": "results/index/projection.npz",
        "cards": "results/index/cards.json",
        "thumbnails": "results/index/thumbnails.zip",
        "metrics": f"results/evaluate/{config['deploy']['model']}/metrics.json",
        "summary": "results/evaluate/summary.json",
        "contract": "results/preprocess/contract.json",
        "val_frames": "results/frames/val",  # val frames calibrate the verified decision
    }
    if config["orientation"]["enabled"]:
        inputs["orientation"] = "results/index/orientation.npz"  # which way up a card lies, from its embedding
        inputs["orientation_record"] = "results/index/orientation.json"
    if config["segmenter"]["enabled"]:  # where cards are, on frames still unsure; INT8 beside an INT8 model
        inputs["segmenter_record"] = "results/segmenter/segmenter.json"
        if config["deploy"]["model"] == "int8":
            inputs["segmenter"] = "results/segmenter/segmenter_int8.onnx"
            inputs["segmenter_quantize"] = "results/segmenter/quantize.json"
        else:
            inputs["segmenter"] = "results/segmenter/segmenter.onnx"
        if "hef" in config["export"]["targets"]:  # on the NPU where the Pi has one (the ONNX model elsewhere)
            inputs["segmenter_hef"] = "results/hailo/segmenter.hef"
            inputs["segmenter_hef_manifest"] = "results/hailo/segmenter.json"
    if config["corners"]["enabled"]:  # where the corners of cards no verified outline places are; INT8 beside INT8
        inputs["corners_record"] = "results/corners/refiner.json"
        if config["deploy"]["model"] == "int8":
            inputs["corners"] = "results/corners/refiner_int8.onnx"
            inputs["corners_quantize"] = "results/corners/quantize.json"
        else:
            inputs["corners"] = "results/corners/refiner.onnx"
    if config["deploy"]["model"] == "int8":
        inputs["frame_gate"] = "results/export/frame_gate.json"  # INT8 held to FP32 on the test frames' cards too
    if "hef" in config["export"]["targets"]:
        inputs["hef"] = "results/hailo/student.hef"
        inputs["hef_manifest"] = "results/hailo/manifest.json"
        inputs["hef_metrics"] = "results/evaluate/hef/metrics.json"  # the pairing the Pi runs, gated
        inputs["hef_frame_gate"] = "results/hailo/frame_gate.json"  # the emulator held to FP32 on the frames' cards
    return inputs
