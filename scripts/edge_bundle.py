"""Entry point of rule edge_bundle; the logic lives in cardrec.deploy.bundle."""
import json
from pathlib import Path

from cardrec.deploy.bundle import add_to_manifest, write_bundle
from cardrec.deploy.verification import calibrate_bundle
from cardrec.export.gate import QualityGateError
from cardrec.hailo.pairing import enforce_pairing
from cardrec.workflow import fail, start

log = start(snakemake)
inp, p = snakemake.input, snakemake.params
metrics = json.loads(Path(inp.metrics).read_text())
files = {"model": inp.model, "embeddings": inp.embeddings, "index": inp.index, "cards": inp.cards,
         "thumbnails": inp.thumbnails, "projection": inp.projection}
extra = {"seed": p.seed, "evaluation": json.loads(Path(inp.summary).read_text()), "index": p.index}


def model_section(name: str, kept: tuple[str, ...]) -> dict:
    """A shipped side model's manifest section: its training record (``<name>_record``) less the loss curve, the
    variant shipped and, beside an INT8 model, the ``kept`` figures of its quantisation record (``<name>_quantize``)."""
    section = {k: v for k, v in json.loads(Path(inp[f"{name}_record"]).read_text()).items() if k != "loss"}
    section["model_variant"] = p.variant
    if f"{name}_quantize" in inp.keys():
        q = json.loads(Path(inp[f"{name}_quantize"]).read_text())
        section["int8"] = {k: q[k] for k in kept}
    return section


if "orientation" in inp.keys():
    files["orientation"] = inp.orientation
    extra["orientation"] = json.loads(Path(inp.orientation_record).read_text())
if "segmenter" in inp.keys():
    files["segmenter"] = inp.segmenter
    extra["segmenter"] = model_section("segmenter", ("calibration_images", "mask_agreement", "min_mask_agreement",
                                                     "reduce_range"))
    if "segmenter_hef" in inp.keys():
        files["segmenter_hef"] = inp.segmenter_hef
        extra["segmenter"]["hailo"] = json.loads(Path(inp.segmenter_hef_manifest).read_text())
if "corners" in inp.keys():
    files["corners"] = inp.corners
    extra["corners"] = model_section("corners", ("calibration_images", "int8_shift", "int8_shift_p99",
                                                 "max_int8_shift", "reduce_range"))
if "hef" in inp.keys():
    pairing = json.loads(Path(inp.hef_metrics).read_text())["deployed_pairing"]
    try:
        pairing = enforce_pairing(metrics, pairing, p.gate["max_top1_drop"])
    except QualityGateError as e:
        fail(f"edge_bundle: {e}")
    files["hef"] = inp.hef
    extra["hailo"] = {**json.loads(Path(inp.hef_manifest).read_text()), "deployed_pairing": pairing}
manifest = write_bundle(Path(snakemake.output.manifest).parent, files, json.loads(Path(inp.contract).read_text()),
                        metrics["threshold"], p.variant, p.hw_arch if "hef" in files else None, extra)
out_dir = Path(snakemake.output.manifest).parent
ev = p.evaluate
verify = calibrate_bundle(out_dir, Path(inp.val_frames), ev["unknown_fraction"], ev["max_false_reject"],
                          p.max_corner_error, threads=snakemake.threads)
add_to_manifest(out_dir, "verify", verify)  # the verified decision's calibrated threshold, last
log.info("bundle written: %s; verify: %s", {k: v["bytes"] for k, v in manifest["files"].items()}, verify)
