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
    log:
        "logs/edge/edge_bundle.log",
    benchmark:
        "logs/edge/edge_bundle.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/edge_bundle.py"
