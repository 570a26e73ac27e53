"""Stage 4, merge: the block outputs into the result database (`db`) and difPy's files (`difpy_outputs`),
best-copy groups (`grouping`) under the copy a person keeps (`keeper`); the HTML report (`report`)."""
