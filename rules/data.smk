rule synthesize_cards:
    output:
        cards="results/synthetic/cards/en/{set}.json",
        images=directory("results/synthetic/images/{set}"),
    params:
        synthetic=get_synthetic_params,
    log:
        "logs/synthetic/{set}.log",
    benchmark:
        "logs/synthetic/{set}.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/synthesize_cards.py"


rule download_images:
    input:
        cards=get_set_json,
    output:
        touch("results/download/{set}.done"),
    params:
        images_dir=get_config("data/images_dir"),
    log:
        "logs/download/{set}.log",
    benchmark:
        "logs/download/{set}.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/download_images.py"


rule preprocessing_contract:
    output:
        "results/preprocess/contract.json",
    params:
        preprocess=get_config("preprocess"),
    log:
        "logs/preprocess/contract.log",
    benchmark:
        "logs/preprocess/contract.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/preprocessing_contract.py"


rule ingest:
    input:
        cards=get_set_json,
        images=get_set_images,
    output:
        cards="results/ingest/{set}/cards.json",
        rejected=report(
            "results/ingest/{set}/rejected.csv",
            caption="../report/rejected.rst",
            category="Data",
            labels={"set": "{set}", "table": "rejected files"},
        ),
    params:
        ingest=get_config("ingest"),
        images_dir=get_images_dir(),
    log:
        "logs/ingest/{set}.log",
    benchmark:
        "logs/ingest/{set}.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/ingest.py"


rule preprocess:
    input:
        cards="results/ingest/{set}/cards.json",
        contract="results/preprocess/contract.json",
    output:
        faces="results/preprocess/{set}/faces.npy",
        gallery="results/preprocess/{set}/gallery.npy",
        cards="results/preprocess/{set}/cards.json",
    params:
        face_size=[config["preprocess"]["face_height"], config["preprocess"]["face_width"]],
    log:
        "logs/preprocess/{set}.log",
    benchmark:
        "logs/preprocess/{set}.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/preprocess.py"


rule render_queries:
    input:
        faces="results/preprocess/{set}/faces.npy",
        contract="results/preprocess/contract.json",
    output:
        images="results/queries/{set}/images.npy",
        rows="results/queries/{set}/queries.json",
    params:
        queries=get_config("queries"),
    log:
        "logs/queries/{set}.log",
    benchmark:
        "logs/queries/{set}.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/render_queries.py"
