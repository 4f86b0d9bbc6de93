rule plot_loss:
    input:
        f"{RESULTS}/models/{{run}}",
    output:
        report(
            f"{RESULTS}/plots/loss/{{run}}.png",
            category="Training",
            subcategory="Loss curves",
            labels={"run": "{run}"},
            caption="../report/loss.rst",
        ),
    log:
        f"{RESULTS}/logs/plots/loss_{{run}}.log",
    conda:
        "../../envs/base.yaml"
    params:
        log_scale=config["plots"]["loss_log_scale"],
    script:
        "../scripts/plot_loss.py"


rule plot_metrics:
    input:
        unpack(run_scores),
    output:
        metrics=report(
            f"{RESULTS}/plots/{{split}}/metrics.png",
            category="Evaluation",
            subcategory="Metrics",
            labels={"split": "{split}", "figure": "headline metrics"},
            caption="../report/metrics.rst",
        ),
        wrong_format=report(
            f"{RESULTS}/plots/{{split}}/wrong_format.png",
            category="Evaluation",
            subcategory="Wrong-format outputs",
            labels={"split": "{split}", "figure": "wrong format"},
            caption="../report/wrong_format.rst",
        ),
    log:
        f"{RESULTS}/logs/plots/metrics_{{split}}.log",
    conda:
        "../../envs/base.yaml"
    params:
        names=lambda wildcards: scored_names(wildcards.split),
    script:
        "../scripts/plot_metrics.py"


rule plot_confusion:
    input:
        f"{RESULTS}/predictions/{{run}}/{{split}}.jsonl",
    output:
        report(
            f"{RESULTS}/plots/{{split}}/confusion/{{run}}.png",
            category="Evaluation",
            subcategory="Confusion matrices",
            labels={"run": "{run}", "split": "{split}"},
            caption="../report/confusion.rst",
        ),
    log:
        f"{RESULTS}/logs/plots/confusion_{{run}}_{{split}}.log",
    conda:
        "../../envs/base.yaml"
    script:
        "../scripts/plot_confusion.py"


rule plot_detections:
    input:
        predictions=f"{RESULTS}/predictions/{{run}}/{{split}}.jsonl",
        records=f"{DATA}/splits/{{split}}.jsonl",
    output:
        report(
            f"{RESULTS}/plots/{{split}}/detections/{{run}}.png",
            category="Evaluation",
            subcategory="Detection overlays",
            labels={"run": "{run}", "split": "{split}"},
            caption="../report/detections.rst",
        ),
    log:
        f"{RESULTS}/logs/plots/detections_{{run}}_{{split}}.log",
    conda:
        "../../envs/base.yaml"
    params:
        examples=config["plots"]["detection_examples"],
    script:
        "../scripts/plot_detections.py"
