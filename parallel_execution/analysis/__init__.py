"""Static analysis of the user's code, run the way the user's project runs it (its interpreter, its tools)."""
