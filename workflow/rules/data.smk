if "synthetic" in config["data"]:

    rule synthetic_data:
        output:
            synthetic_manifest(),
        log:
            f"{RESULTS}/logs/synthetic_data.log",
        conda:
            "../../envs/base.yaml"
        threads: 2
        params:
            synthetic=config["data"]["synthetic"],
        script:
            "../scripts/synthetic_data.py"


rule merge:
    input:
        merge_inputs,
    output:
        records=f"{DATA}/records.jsonl",
        problems=f"{DATA}/problems.jsonl",
        summary=report(
            f"{DATA}/merge_summary.json",
            category="Data",
            caption="../report/merge.rst",
        ),
    log:
        f"{RESULTS}/logs/merge.log",
    conda:
        "../../envs/base.yaml"
    params:
        root=config["data"]["root"],
        split_folders=merge_folders(),
        questions=lambda wildcards: tree_questions(merge_folders()),
    script:
        "../scripts/merge.py"


rule split:
    input:
        records=rules.merge.output.records,
    output:
        train=f"{DATA}/splits/train.jsonl",
        val=f"{DATA}/splits/val.jsonl",
        test=f"{DATA}/splits/test.jsonl",
        summary=report(
            f"{DATA}/split_summary.json",
            category="Data",
            caption="../report/split.rst",
        ),
    log:
        f"{RESULTS}/logs/split.log",
    conda:
        "../../envs/base.yaml"
    params:
        split=split_params(),
    script:
        "../scripts/split.py"


rule unlabelled_split:
    input:
        records=rules.merge.output.records,
    output:
        f"{DATA}/splits/{{unlabelled}}.jsonl",
    log:
        f"{RESULTS}/logs/split/{{unlabelled}}.log",
    conda:
        "../../envs/base.yaml"
    script:
        "../scripts/unlabelled_split.py"


rule references:
    input:
        merge_inputs,
    output:
        records=f"{DATA}/references/{{split}}.jsonl",
        problems=f"{DATA}/references/{{split}}_problems.jsonl",
    log:
        f"{RESULTS}/logs/references/{{split}}.log",
    conda:
        "../../envs/base.yaml"
    params:
        root=config["data"]["root"],
        filters={
            key: config["data"][key]
            for key in ("datasets", "task_types", "categories")
        },
        questions=lambda wildcards: tree_questions([wildcards.split]),
    script:
        "../scripts/references.py"


rule shards:
    input:
        records=f"{DATA}/splits/{{split}}.jsonl",
    output:
        **shard_files("{split}", "{size}"),
    log:
        f"{RESULTS}/logs/shards/{{split}}_{{size}}.log",
    conda:
        "../../envs/base.yaml"
    threads: config["shards"]["threads"]
    params:
        max_pixels=config["shards"]["max_pixels"],
    script:
        "../scripts/shards.py"
