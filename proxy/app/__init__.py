"""The launchers: the `leaderless` command, `up` with its local nodes, the worker processes."""
