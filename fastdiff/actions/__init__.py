"""Acting on the results: safe moves and deletes of lower-quality copies, journalled so that undo always works."""
