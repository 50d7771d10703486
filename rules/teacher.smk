rule train_teacher:
    input:
        faces=shard_files(get_train_sets(), "faces.npy"),
        contract="results/preprocess/contract.json",
    output:
        model="results/teacher/model.pt",
        metrics="results/teacher/metrics.csv",
        profile="results/profiling/teacher/profile.json",
        **sagemaker_job_record("teacher"),
    params:
        teacher=get_config("teacher"),
        augment=get_config("augment"),
        training=get_config("training"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/teacher/train_teacher.log",
    benchmark:
        training_benchmark("teacher")
    threads: workflow.cores
    resources:
        gpu=0,  # local default; cluster profiles set gpu=1 (profiles/*/config.yaml set-resources)
        mem_mb=8000,
        runtime=240,  # minutes
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/train_teacher.py"


rule embed_gallery:
    input:
        model=get_model_file,
        gallery="results/preprocess/{set}/gallery.npy",
        contract="results/preprocess/contract.json",
    output:
        "results/embeddings/{model}/{set}.npy",
    log:
        "logs/embeddings/{model}/{set}.log",
    benchmark:
        "logs/embeddings/{model}/{set}.benchmark.tsv"
    threads: half_the_cores()
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/embed_gallery.py"
