# The workflow is workflow/Snakefile (a wheel carries it inside the package, so that any install runs it);
# this file lets `snakemake --cores N` run it from a checkout, with profiles/default applied.


include: "workflow/Snakefile"


# An included file's rules are never the default target: this one asks for what the packaged `all` asks for.
rule checkout:
    default_target: True
    input:
        rules.all.input,
    localrule: True
