rule cost_report:
    input:
        **get_training_benchmarks(),
        jobs=[j for s in TRAINING_STAGES for j in sagemaker_job_record(s).values()],
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
