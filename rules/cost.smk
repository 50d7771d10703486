rule cost_report:
    input:
        teacher="logs/teacher/train_teacher.benchmark.tsv",
        stage1="logs/student/train_student_stage1.benchmark.tsv",
        stage2="logs/student/train_student_stage2.benchmark.tsv",
        jobs=[j for s in ("teacher", "stage1", "stage2") for j in sagemaker_job_record(s).values()],
    output:
        training="results/cost/training_cost.json",
        json="results/cost/cost_report.json",
        md=report(
            "results/cost/cost_report.md",
            caption="../report/cost.rst",
            category="Cost",
            labels={"table": "cost report"},
        ),
        cumulative=report(
            "results/cost/cloud_vs_edge.png",
            caption="../report/cost_cumulative.rst",
            category="Cost",
            labels={"plot": "cloud vs edge"},
        ),
        storage=report(
            "results/cost/storage.png",
            caption="../report/cost_storage.rst",
            category="Cost",
            labels={"plot": "storage and lifecycle"},
        ),
    params:
        cost=get_config("cost"),
        lifecycle=get_config("aws/lifecycle"),
        storage=get_config("storage"),
        results=lambda wildcards, output: str(Path(output.json).parent.parent),
    log:
        "logs/cost/cost_report.log",
    benchmark:
        "logs/cost/cost_report.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/cost_report.py"
