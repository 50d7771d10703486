wildcard_constraints:
    split="val|test",


rule render_frames:
    input:
        faces=shard_files(get_sets(), "faces.npy"),
        cards=shard_files(get_sets(), "cards.json"),
    output:
        frames=directory("results/frames/{split}"),
    params:
        frames=get_config("frames"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/frames/render_{split}.log",
    benchmark:
        "logs/frames/render_{split}.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/render_frames.py"


rule frames_bundle:
    input:
        manifest="results/edge/manifest.json",
    output:
        manifest="results/frames/bundle/manifest.json",
    params:
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/frames/frames_bundle.log",
    benchmark:
        "logs/frames/frames_bundle.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/frames_bundle.py"


rule evaluate_frames:
    input:
        frames="results/frames/{split}",
        bundle="results/frames/bundle/manifest.json",
        runtime=runtime_sources(),
    output:
        metrics="results/evaluate/frames/{split}.json",
        table=report(
            "results/evaluate/frames/{split}.md",
            caption="../report/frames.rst",
            category="Evaluation",
            labels={"table": "whole frames ({split})"},
        ),
        plot=report(
            "results/evaluate/frames/{split}.png",
            caption="../report/frames.rst",
            category="Evaluation",
            labels={"plot": "whole frames ({split})"},
        ),
    params:
        max_corner_error=get_config("frames/max_corner_error"),
    log:
        "logs/evaluate/frames_{split}.log",
    benchmark:
        "logs/evaluate/frames_{split}.benchmark.tsv"
    threads: workflow.cores
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/evaluate_frames.py"


rule evaluate_frames_phash:
    input:
        frames="results/frames/{split}",
        bundle="results/frames/bundle/manifest.json",
        runtime=runtime_sources(),  # its detection and rectification
        gallery=shard_files(get_sets()),
        phash="results/evaluate/phash/metrics.json",
    output:
        metrics="results/evaluate/frames/phash_{split}.json",
    params:
        max_corner_error=get_config("frames/max_corner_error"),
    log:
        "logs/evaluate/frames_phash_{split}.log",
    benchmark:
        "logs/evaluate/frames_phash_{split}.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/evaluate_frames_phash.py"


rule summary_table:
    input:
        crops="results/evaluate/crops.md",
        frames=expand("results/evaluate/frames/{split}.json", split=["test", "val"]),
        baseline=expand("results/evaluate/frames/phash_{split}.json", split=["test", "val"]),
    output:
        table=report(
            "results/evaluate/summary.md",
            caption="../report/summary.rst",
            category="Evaluation",
            labels={"table": "metrics"},
        ),
    log:
        "logs/evaluate/summary_table.log",
    benchmark:
        "logs/evaluate/summary_table.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/summary_table.py"
