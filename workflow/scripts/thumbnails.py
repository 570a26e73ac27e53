from fastdiff._shared.logsetup import logging_to
from fastdiff.core.options import ThumbnailOptions
from fastdiff.run.stages import run_thumbnails

with logging_to(snakemake.log[0]):
    options = ThumbnailOptions.from_params(snakemake.params.options)
    run_thumbnails(snakemake.input[0], snakemake.output[0], options, snakemake.threads)
