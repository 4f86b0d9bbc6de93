"""Metrics: per-task scores on parsed answers, evaluator profiles, bootstrap intervals, tables.

``profiles/default.py`` is the project's own evaluator; ``profiles/study.py`` keeps the metrics
of the study the project grew from; the other ``profiles/<name>.py`` reproduce public baseline
evaluators.
"""
