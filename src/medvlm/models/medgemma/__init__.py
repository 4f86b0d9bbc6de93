"""MedGemma (Gemma 3 vision-language) in transformers: LoRA fine-tuning with PEFT + TRL.

On the CPU, PyTorch's OpenMP threads spin while they wait for work by default. On a busy or
shared machine a spinning thread holds a core another thread of the same op needs, and the tiny
demo model's thousands of small ops then wait on each other: a training step of the learnability
model took 7.7 s instead of 0.58 s with passive waiting (2 cores, load average 8;
``benchmarks/omp_wait.py``). Passive waiting is set here, before torch loads, unless the
environment already says otherwise.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
