rule export_onnx:
    input:
        model="results/student/stage2/model.pt",
        gallery=shard_files(get_train_sets()),
        contract="results/preprocess/contract.json",
    output:
        fixed="results/export/student_fixed.onnx",
        dynamic="results/export/student_dynamic.onnx",
        report="results/export/export.json",
    params:
        opset=get_config("export/opset"),
        atol=get_config("export/parity_atol"),
        simplify=get_config("export/simplify"),
    log:
        "logs/export/export_onnx.log",
    benchmark:
        "logs/export/export_onnx.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/export_onnx.py"


rule calibration_set:
    input:
        faces=shard_files(get_train_sets(), "faces.npy"),
        contract="results/preprocess/contract.json",
    output:
        calib="results/calibration/calib.npy",
        meta="results/calibration/calib.json",
    params:
        calibration=get_config("calibration"),
        augment=get_config("queries/augment"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/calibration/calibration_set.log",
    benchmark:
        "logs/calibration/calibration_set.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/calibration_set.py"


rule quantize_onnx:
    input:
        fp32="results/export/student_dynamic.onnx",
        calib="results/calibration/calib.npy",
        gallery=shard_files(get_train_sets()),
        queries=query_files(get_train_sets()),
        contract="results/preprocess/contract.json",
    output:
        int8="results/export/student_int8.onnx",
        report="results/export/quantize.json",
    params:
        quantize=get_config("quantize"),
        gate=get_config("gate"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/export/quantize_onnx.log",
    benchmark:
        "logs/export/quantize_onnx.benchmark.tsv"
    threads: workflow.cores
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/quantize_onnx.py"


rule frame_gate:
    input:
        fp32="results/export/student_dynamic.onnx",
        int8="results/export/student_int8.onnx",
        gallery=shard_files(get_train_sets()),
        contract="results/preprocess/contract.json",
        frames="results/frames/test",  # every set's cards: a rule of its own, so a new set never remakes the model
    output:
        report="results/export/frame_gate.json",
    params:
        gate=get_config("gate"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/export/frame_gate.log",
    benchmark:
        "logs/export/frame_gate.benchmark.tsv"
    threads: workflow.cores
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/frame_gate.py"
