# The workflow ships inside the package (fastdiff/workflow/Snakefile), so that any install of fastdiff runs it;
# this file lets `snakemake --cores N` run it from a checkout, with profiles/default applied.


include: "fastdiff/workflow/Snakefile"
