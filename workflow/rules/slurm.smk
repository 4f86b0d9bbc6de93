"""SLURM runs: check every job's request against the cluster before anything is submitted,
then report jobs that pend too long (medvlm.slurm.hook; other executors: nothing happens).
"""

from medvlm.slurm.hook import on_start as check_and_watch_slurm


onstart:
    check_and_watch_slurm(workflow)
