rule demo_model:
    input:
        train=f"{DATA}/splits/train.jsonl",
    output:
        directory(f"{RESULTS}/demo_models/{{family}}"),
    log:
        f"{RESULTS}/logs/demo_model/{{family}}.log",
    conda:
        family_env
    params:
        cfg=lambda wildcards: config["demo_models"][wildcards.family],
    script:
        "../scripts/demo_model.py"


rule train:
    input:
        unpack(train_inputs),
    output:
        directory(f"{RESULTS}/models/{{run}}"),
    log:
        f"{RESULTS}/logs/train/{{run}}.log",
    conda:
        family_env
    threads: 2
    resources:
        nodes=train_resource("nodes"),
        gres=train_resource("gres"),
        mpi=train_resource("mpi"),
        tasks=train_resource("tasks"),
        tasks_per_node=train_resource("tasks_per_node"),
        tasks_per_gpu=train_resource("tasks_per_gpu"),
    params:
        run=lambda wildcards: training_slice(run_params(wildcards.run)),
        resume_dir=lambda wildcards: f"{RESULTS}/checkpoints/{wildcards.run}",
        # live TensorBoard curves (train.report_to); like resume_dir, not an output
        curves_dir=lambda wildcards: f"{RESULTS}/logs/tensorboard/{wildcards.run}",
    script:
        "../scripts/train.py"


rule predict:
    input:
        unpack(predict_inputs),
    output:
        f"{RESULTS}/predictions/{{run}}/{{split}}.jsonl",
    log:
        f"{RESULTS}/logs/predict/{{run}}_{{split}}.log",
    conda:
        family_env
    threads: 2
    params:
        run=lambda wildcards: run_params(wildcards.run),
    script:
        "../scripts/predict.py"
