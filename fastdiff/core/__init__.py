"""The layer below the stages: the configuration model and stage options, index records, the symmetry codes,
the grid cells of the lower bounds, user functions and the array module (CPU or GPU)."""
