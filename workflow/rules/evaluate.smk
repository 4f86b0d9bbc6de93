rule score:
    input:
        references=f"{DATA}/splits/{{split}}.jsonl",
        predictions=f"{RESULTS}/predictions/{{run}}/{{split}}.jsonl",
    output:
        f"{RESULTS}/scores/{{run}}/{{split}}.json",
    log:
        f"{RESULTS}/logs/score/{{run}}_{{split}}.log",
    conda:
        "../../envs/base.yaml"
    params:
        evaluate=score_params(),
    script:
        "../scripts/score.py"


rule score_external:
    input:
        references=f"{DATA}/splits/{{split}}.jsonl",
        predictions=lambda wildcards: EXTERNAL[wildcards.external]["predictions"],
    output:
        f"{RESULTS}/scores/{{external}}/{{split}}.json",
    log:
        f"{RESULTS}/logs/score/{{external}}_{{split}}.log",
    conda:
        "../../envs/base.yaml"
    params:
        evaluate=score_params(),
    script:
        "../scripts/score.py"


rule tables:
    input:
        unpack(run_scores),
    output:
        report(
            directory(f"{RESULTS}/tables/{{split}}"),
            patterns=["{name}.csv"],
            category="Evaluation",
            subcategory="Tables",
            caption="../report/tables.rst",
        ),
    log:
        f"{RESULTS}/logs/tables/{{split}}.log",
    conda:
        "../../envs/base.yaml"
    params:
        names=lambda wildcards: scored_names(wildcards.split),
    script:
        "../scripts/tables.py"
