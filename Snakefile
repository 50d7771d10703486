# Card recognition: raw card images -> teacher -> student (2 stages) -> ONNX/INT8/HEF -> edge bundle.
from snakemake.utils import min_version

min_version("9.18")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/teacher.smk"
include: "rules/student.smk"
include: "rules/export.smk"
include: "rules/hailo.smk"
include: "rules/index.smk"
include: "rules/evaluate.smk"
include: "rules/frames.smk"
include: "rules/bundle.smk"
include: "rules/cost.smk"
include: "rules/report.smk"


report: report_description()


rule all:
    default_target: True
    input:
        get_final_output(),
