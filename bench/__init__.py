"""Benchmarks: `leaderless bench` (the proxy against a plain server) and the sidecar's."""
