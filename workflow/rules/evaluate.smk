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
        references=external_references,
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


rule submission:
    input:
        predictions=f"{RESULTS}/predictions/{{run}}/{{unlabelled}}.jsonl",
        records=rules.merge.output.records,
    output:
        f"{RESULTS}/submissions/{{run}}/{{unlabelled}}/predictions.json",
    log:
        f"{RESULTS}/logs/submission/{{run}}_{{unlabelled}}.log",
    conda:
        "../../envs/base.yaml"
    params:
        folder=lambda wildcards: f"{config['data']['root']}/{wildcards.unlabelled}",
    script:
        "../scripts/submission.py"


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
