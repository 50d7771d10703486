# Hailo-8L HEF with the Dataflow Compiler, one rule per DFC step of the embedding model, one for the whole build of
# the card segmenter (cardrec.hailo.steps) from its static graph (simplify_segmenter, on the host).
# Each runs here when hailo_sdk_client is importable, else in hailo.docker_image.


rule hailo_parse:
    input:
        onnx="results/export/student_fixed.onnx",
        contract="results/preprocess/contract.json",
    output:
        har="results/hailo/model.har",
        report="results/hailo/parse.json",
    params:
        hailo=get_config("hailo"),
    log:
        "logs/hailo/hailo_parse.log",
    benchmark:
        "logs/hailo/hailo_parse.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/hailo_step.py"


rule hailo_optimize:
    input:
        har="results/hailo/model.har",
        calib="results/calibration/calib.npy",
        contract="results/preprocess/contract.json",
    output:
        har="results/hailo/model_quantized.har",
        alls="results/hailo/model.alls",
        report="results/hailo/optimize.json",
    params:
        hailo=get_config("hailo"),
    log:
        "logs/hailo/hailo_optimize.log",
    benchmark:
        "logs/hailo/hailo_optimize.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/hailo_step.py"


rule hailo_emulate:
    input:
        har="results/hailo/model_quantized.har",
        fp32="results/export/student_dynamic.onnx",
        gallery=shard_files(get_train_sets()),
        queries=query_files(get_train_sets()),
        contract="results/preprocess/contract.json",
    output:
        report="results/hailo/emulate.json",
    params:
        hailo=get_config("hailo"),
        gate=get_config("gate"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/hailo/hailo_emulate.log",
    benchmark:
        "logs/hailo/hailo_emulate.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/hailo_step.py"


rule hailo_frame_gate:
    input:
        har="results/hailo/model_quantized.har",
        fp32="results/export/student_dynamic.onnx",
        gallery=shard_files(get_train_sets()),
        contract="results/preprocess/contract.json",
        frames="results/frames/test",  # every set's cards: a rule of its own, so a new set never remakes the HEF
    output:
        report="results/hailo/frame_gate.json",
    params:
        hailo=get_config("hailo"),
        gate=get_config("gate"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/hailo/hailo_frame_gate.log",
    benchmark:
        "logs/hailo/hailo_frame_gate.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/hailo_step.py"


rule hailo_embed:
    input:
        har="results/hailo/model_quantized.har",
        gallery=shard_files(get_sets()),
        queries=query_files(get_sets()),
    output:
        gallery="results/hailo/embeddings/gallery.npy",
        queries="results/hailo/embeddings/queries.npy",
    params:
        hailo=get_config("hailo"),
    log:
        "logs/hailo/hailo_embed.log",
    benchmark:
        "logs/hailo/hailo_embed.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/hailo_step.py"


rule hailo_compile:
    input:
        har="results/hailo/model_quantized.har",
        alls="results/hailo/model.alls",
        parse="results/hailo/parse.json",
        optimize="results/hailo/optimize.json",
        emulate="results/hailo/emulate.json",
        contract="results/preprocess/contract.json",
    output:
        hef="results/hailo/student.hef",
        manifest="results/hailo/manifest.json",
    params:
        hailo=get_config("hailo"),
    log:
        "logs/hailo/hailo_compile.log",
    benchmark:
        "logs/hailo/hailo_compile.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/hailo_step.py"


rule simplify_segmenter:
    input:
        model="results/segmenter/segmenter.onnx",
        scenes="results/segmenter/calibration.npy",
        contract="results/preprocess/contract.json",
    output:
        fixed="results/hailo/segmenter_fixed.onnx",
        report="results/hailo/segmenter_fixed.json",
    params:
        atol=get_config("export/parity_atol"),
    log:
        "logs/hailo/simplify_segmenter.log",
    benchmark:
        "logs/hailo/simplify_segmenter.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/simplify_segmenter.py"


rule hailo_segmenter:
    input:
        onnx="results/hailo/segmenter_fixed.onnx",
        scenes="results/segmenter/calibration.npy",
        contract="results/preprocess/contract.json",
    output:
        har="results/hailo/segmenter.har",
        quantized="results/hailo/segmenter_quantized.har",
        hef="results/hailo/segmenter.hef",
        manifest="results/hailo/segmenter.json",
    params:
        hailo=get_config("hailo"),
        segmenter=get_config("segmenter"),
    log:
        "logs/hailo/hailo_segmenter.log",
    benchmark:
        "logs/hailo/hailo_segmenter.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/hailo_step.py"
