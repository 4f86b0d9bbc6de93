"""medvlm: fine-tune and evaluate vision-language models on FLARE-format medical image data."""
