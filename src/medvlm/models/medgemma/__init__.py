"""MedGemma (Gemma 3 vision-language) in transformers: LoRA fine-tuning with PEFT + TRL."""
