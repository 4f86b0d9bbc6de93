"""Constrained decoding: every answer a model writes is well-formed for its task type.

- :mod:`.grammar`: each question's output language (from its task type, options and labels).
- :mod:`.vocab`: a family's tokenizer as llguidance sees it (sentencepiece or Hugging Face).
- :mod:`.matchers`: per-row llguidance matchers and the token masks of a batch.
- :mod:`.boxorder`: corner order inside boxes, which grammars leave open.
- :mod:`.jax_hook` (PaliGemma) and :mod:`.torch_processor` (MedGemma): the families' hooks.
- :mod:`.location_grammar`: PaliGemma's ``<locNNNN>`` answer language.
"""
