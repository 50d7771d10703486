rule edge_bundle:
    input:
        unpack(get_bundle_inputs),
    output:
        manifest="results/edge/manifest.json",
    params:
        variant=get_config("deploy/model"),
        hw_arch=get_config("hailo/hw_arch"),
        seed=get_config("seed"),
        index=get_config("index"),
        gate=get_config("gate"),
        evaluate=get_config("evaluate"),
        max_corner_error=get_config("frames/max_corner_error"),
    log:
        "logs/edge/edge_bundle.log",
    benchmark:
        "logs/edge/edge_bundle.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/edge_bundle.py"


rule orientation_gate:
    input:
        model=get_deployed_model(),
        faces=shard_files(get_sets(), "faces.npy"),
        contract="results/preprocess/contract.json",
    output:
        gate="results/index/orientation.npz",
        record="results/index/orientation.json",
    params:
        orientation=get_config("orientation"),
        augment=get_config("augment"),
        seed=get_config("seed"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/index/orientation_gate.log",
    benchmark:
        "logs/index/orientation_gate.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/orientation_gate.py"


rule train_segmenter:
    input:
        faces=shard_files(get_train_sets(), "faces.npy"),  # a model: a new set never makes it stale
        contract="results/preprocess/contract.json",
    output:
        model="results/segmenter/segmenter.onnx",
        record="results/segmenter/segmenter.json",
    params:
        segmenter=get_side_training("segmenter"),
        frame=get_config("frames/size"),
        seed=get_config("seed"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/segmenter/train_segmenter.log",
    benchmark:
        training_benchmark("segmenter")  # priced by rule cost_report
    threads: workflow.cores
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/train_segmenter.py"


rule train_corner_refiner:
    input:
        faces=shard_files(get_train_sets(), "faces.npy"),  # a model: a new set never makes it stale
    output:
        model="results/corners/refiner.onnx",
        record="results/corners/refiner.json",
    params:
        corners=get_side_training("corners"),
        frame=get_config("frames/size"),
        seed=get_config("seed"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/corners/train_corner_refiner.log",
    benchmark:
        training_benchmark("corners")  # priced by rule cost_report
    threads: workflow.cores
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/train_corner_refiner.py"


rule quantize_corner_refiner:
    input:
        model="results/corners/refiner.onnx",
        faces=shard_files(get_train_sets(), "faces.npy"),
    output:
        int8="results/corners/refiner_int8.onnx",
        report="results/corners/quantize.json",
        patches="results/corners/calibration.npy",  # a HEF would be calibrated on them too
    params:
        corners=get_config("corners"),
        frame=get_config("frames/size"),
        seed=get_config("seed"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/corners/quantize_corner_refiner.log",
    benchmark:
        "logs/corners/quantize_corner_refiner.benchmark.tsv"
    threads: workflow.cores
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/quantize_corner_refiner.py"


rule quantize_segmenter:
    input:
        model="results/segmenter/segmenter.onnx",
        faces=shard_files(get_train_sets(), "faces.npy"),
        contract="results/preprocess/contract.json",
    output:
        int8="results/segmenter/segmenter_int8.onnx",
        report="results/segmenter/quantize.json",
        scenes="results/segmenter/calibration.npy",  # the HEF is calibrated and gated on them too
    params:
        segmenter=get_config("segmenter"),
        frame=get_config("frames/size"),
        seed=get_config("seed"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/segmenter/quantize_segmenter.log",
    benchmark:
        "logs/segmenter/quantize_segmenter.benchmark.tsv"
    threads: workflow.cores
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/quantize_segmenter.py"
