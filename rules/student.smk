# Student distillation: stage 1 (from the teacher's embeddings), hard-negative mining, stage 2.
rule train_student:
    input:
        unpack(get_student_stage_inputs),
        faces=shard_files(get_train_sets(), "faces.npy"),
        teacher_emb=embedding_files("teacher", get_train_sets()),
        contract="results/preprocess/contract.json",
    output:
        model="results/student/{stage}/model.pt",
        metrics="results/student/{stage}/metrics.csv",
        profile="results/profiling/{stage}/profile.json",
        **sagemaker_job_record("{stage}"),
    params:
        student=lambda wildcards: get_student_params(wildcards.stage),
        augment=get_config("augment"),
        training=get_config("training"),
        unknown_fraction=get_config("evaluate/unknown_fraction"),
    log:
        "logs/student/train_student_{stage}.log",
    benchmark:
        training_benchmark("{stage}")
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
