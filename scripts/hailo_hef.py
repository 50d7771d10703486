"""Entry point of rule hailo_hef; the logic lives in cardrec.hailo."""
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from snakemake.script import snakemake

sys.stderr = log = open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(stream=log, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

from cardrec_edge.preprocess import Preprocess  # noqa: E402

from cardrec.hailo import HailoConfig, HailoUnavailable, build_hef  # noqa: E402

hef = Path(snakemake.output.hef)
work = hef.parent / f"{hef.stem}_dfc"  # model.har, model_quantized.har, model.alls, model.hef
cfg = HailoConfig.from_dict(dict(snakemake.params.hailo or {}))
contract = Preprocess.from_dict(json.loads(Path(snakemake.input.contract).read_text()))  # rule preprocessing_contract
try:
    manifest = build_hef(snakemake.input.onnx, snakemake.input.calib, work, cfg, contract)
except HailoUnavailable as e:  # expected where the DFC is not installed: message, no traceback
    for stream in (log, sys.__stderr__):
        print(f"hailo_hef: {e}", file=stream)
    sys.exit(1)
shutil.copyfile(work / "model.hef", hef)
manifest["hef"] = hef.name
Path(snakemake.output.manifest).write_text(json.dumps(manifest, indent=2) + "\n")
