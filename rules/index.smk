rule reference_index:
    input:
        embeddings=embedding_files(config["deploy"]["model"], get_sets()),
        cards=shard_files(get_sets(), "cards.json"),
        gallery=shard_files(get_sets()),
    output:
        embeddings="results/index/embeddings.npy",
        thumbnails="results/index/thumbnails.zip",
        index="results/index/gallery.usearch",
        projection="results/index/projection.npz",
        cards="results/index/cards.json",
        report="results/index/index.json",
    params:
        index=get_config("index"),
    log:
        "logs/index/reference_index.log",
    benchmark:
        "logs/index/reference_index.benchmark.tsv"
    conda:
        "../envs/cardrec.yaml"
    script:
        "../scripts/reference_index.py"
