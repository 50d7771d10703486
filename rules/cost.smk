rule cost_report:
    input:
        teacher="logs/teacher/train_teacher.benchmark.tsv",
        stage1="logs/student/train_student_stage1.benchmark.tsv",
        stage2="logs/student/train_student_stage2.benchmark.tsv",
    output:
        json="results/cost/training_cost.json",
        md=report(
            "results/cost/training_cost.md",
            caption="../report/cost.rst",
            category="Cost",
            labels={"table": "training cost"},
        ),
    params:
        cost=get_config("cost"),
    log:
        "logs/cost/cost_report.log",
    benchmark:
        "logs/cost/cost_report.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/cost_report.py"
