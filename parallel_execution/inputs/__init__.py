"""The input: the task model (schema), the builder, and every check made before anything runs (validate)."""
