"""Rule submission: one run's answers to an unlabelled split in the organisers' format."""

from medvlm.data.flare import locate_questions
from medvlm.logs import setup_logging
from medvlm.submission import prediction_answers, write_submission

setup_logging(snakemake.log[0])
write_submission(
    locate_questions(snakemake.params.folder),
    prediction_answers(snakemake.input.predictions),
    snakemake.output[0],
)
