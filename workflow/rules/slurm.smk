"""SLURM runs: check every job's request against the cluster before anything is submitted,
then report jobs that pend too long (medvlm.slurm.hook; other executors: nothing happens).
Snakemake keeps only the last onstart handler registered: add other start-up work to this one.
"""

from medvlm.slurm.hook import on_start as check_and_watch_slurm


onstart:
    check_and_watch_slurm(workflow)
