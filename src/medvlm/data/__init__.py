"""The data stages: read and merge FLARE trees, split, decode images into shards, load batches."""
