"""PaliGemma 2 (and 1) in JAX/Flax, compatible with big_vision checkpoints."""
