"""Implementation plans (``implementation_plan.json``): run them as a DAG, write statuses back under a lock."""
