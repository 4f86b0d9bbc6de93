"""Model families: PaliGemma (JAX/Flax) and MedGemma (transformers), behind one interface."""
