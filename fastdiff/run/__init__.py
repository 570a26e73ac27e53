"""Running the stages: the plan and its two executors (Snakemake through `runner`, in process through
`in_process`), the stage contracts (`stages`), checks before any job (`preflight`), job resources (`resources`),
work paths and the screen."""
