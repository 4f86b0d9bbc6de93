rule export:
    input:
        unpack(export_inputs),
    output:
        directory(f"{RESULTS}/exports/{{run}}"),
    log:
        f"{RESULTS}/logs/export/{{run}}.log",
    conda:
        family_env
    params:
        export=config["export"],
        weights=decode_weights,
    script:
        "../scripts/export.py"
