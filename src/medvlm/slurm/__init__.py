"""SLURM: what a cluster offers, what the workflow's jobs ask of it, and the check between them.

The SLURM executor plugin turns each job's resources into an ``sbatch`` call and accepts
whatever the cluster says. A request the cluster cannot meet then either fails at submission
or, worse, pends forever. :mod:`medvlm.slurm.preflight` compares every request with the
cluster before anything is submitted (run from the workflow's ``onstart`` hook and by
``medvlm check-cluster``), and :mod:`medvlm.slurm.pending` reports why a job is still pending.
"""
