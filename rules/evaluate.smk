rule evaluate:
    input:
        unpack(get_eval_inputs),
    output:
        metrics="results/evaluate/{variant}/metrics.json",
        confusions=report(
            "results/evaluate/{variant}/confusions.png",
            caption="../report/confusions.rst",
            category="Confusions",
            subcategory="{variant}",
            labels={"model": "{variant}"},
        ),
    params:
        evaluate=get_config("evaluate"),
    log:
        "logs/evaluate/{variant}.log",
    benchmark:
        "logs/evaluate/{variant}.benchmark.tsv"
    threads: half_the_cores()
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/evaluate.py"


rule summarize_evaluation:
    input:
        metrics=expand("results/evaluate/{variant}/metrics.json", variant=get_eval_variants()),
        metrics_csv=[
            "results/teacher/metrics.csv",
            "results/student/stage1/metrics.csv",
            "results/student/stage2/metrics.csv",
        ],
        segmenter=get_side_record("segmenter"),
        corners=get_side_record("corners"),
    output:
        summary="results/evaluate/summary.json",
        table="results/evaluate/crops.md",  # summary.md (rule summary_table) adds the whole-frame figures
        accuracy=report(
            "results/evaluate/accuracy.png",
            caption="../report/accuracy.rst",
            category="Evaluation",
            labels={"plot": "top-k per model"},
        ),
        scores=report(
            "results/evaluate/scores.png",
            caption="../report/scores.rst",
            category="Evaluation",
            labels={"plot": "known vs unknown scores"},
        ),
        loss=report(
            "results/evaluate/loss.png",
            caption="../report/loss.rst",
            category="Training",
            labels={"plot": "loss curves"},
        ),
    params:
        top_k=get_config("evaluate/top_k"),
    log:
        "logs/evaluate/summarize_evaluation.log",
    benchmark:
        "logs/evaluate/summarize_evaluation.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/summarize_evaluation.py"
