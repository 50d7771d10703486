rule report_front:
    input:
        description=local("report/workflow.rst"),  # a file of the repository, never in remote storage
        summary="results/evaluate/summary.json",
        frames="results/evaluate/frames/test.json",
        baseline="results/evaluate/frames/phash_test.json",
        accuracy="results/evaluate/accuracy.png",
        frames_plot="results/evaluate/frames/test.png",
    output:
        page="results/report/front.rst",  # the report's front page once it exists (report_description)
    params:
        deployed=get_config("deploy/model"),
    log:
        "logs/report/report_front.log",
    benchmark:
        "logs/report/report_front.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/report_front.py"
