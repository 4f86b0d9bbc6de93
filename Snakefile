from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# The demo's config, unless --configfile names another: Snakemake would merge the two, adding the
# demo's runs and synthetic tree to a real-data config.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/slurm.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
