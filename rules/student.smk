rule train_student_stage1:
    input:
        faces=shard_files(get_train_sets(), "faces.npy"),
        teacher_emb=embedding_files("teacher", get_train_sets()),
        contract="results/preprocess/contract.json",
    output:
        model="results/student/stage1/model.pt",
        metrics="results/student/stage1/metrics.csv",
        profile="results/profiling/stage1/profile.json",
        **sagemaker_job_record("stage1"),
    params:
        student=get_student_params("stage1"),
        augment=get_config("augment"),
        training=get_config("training"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/student/train_student_stage1.log",
    benchmark:
        "logs/student/train_student_stage1.benchmark.tsv"
    threads: workflow.cores
    resources:
        gpu=0,  # local default; cluster profiles set gpu=1 (profiles/*/config.yaml set-resources)
        mem_mb=8000,
        runtime=240,  # minutes
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/train_student.py"


rule mine_hard_negatives:
    input:
        embeddings=expand(
            "results/embeddings/{model}/{set}.npy",
            model=get_config("mining/sources"),
            set=get_train_sets(),
        ),
        cards=shard_files(get_train_sets(), "cards.json"),
    output:
        table="results/mining/hard_negatives.csv",
        pairs=report(
            "results/mining/confusable_pairs.md",
            caption="../report/mining.rst",
            category="Hard negatives",
        ),
    params:
        k=get_config("mining/k"),
        sources=get_config("mining/sources"),
    log:
        "logs/mining/mine_hard_negatives.log",
    benchmark:
        "logs/mining/mine_hard_negatives.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/mine_hard_negatives.py"


rule train_student_stage2:
    input:
        faces=shard_files(get_train_sets(), "faces.npy"),
        teacher_emb=embedding_files("teacher", get_train_sets()),
        contract="results/preprocess/contract.json",
        init="results/student/stage1/model.pt",
        negatives="results/mining/hard_negatives.csv",
    output:
        model="results/student/stage2/model.pt",
        metrics="results/student/stage2/metrics.csv",
        profile="results/profiling/stage2/profile.json",
        **sagemaker_job_record("stage2"),
    params:
        student=get_student_params("stage2"),
        augment=get_config("augment"),
        training=get_config("training"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/student/train_student_stage2.log",
    benchmark:
        "logs/student/train_student_stage2.benchmark.tsv"
    threads: workflow.cores
    resources:
        gpu=0,  # local default; cluster profiles set gpu=1 (profiles/*/config.yaml set-resources)
        mem_mb=8000,
        runtime=240,  # minutes
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/train_student.py"
