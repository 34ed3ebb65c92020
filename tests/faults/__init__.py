"""Fault-injection tests: a workload through real `leaderless proxy` processes while a nemesis
kills, hangs and partitions the redis-servers and kills proxies, then checks that no
acknowledged write was lost, no value invented, the replicas converged after one anti-entropy
round and reads were monotonic. Map: history.py (what happened), workload.py (the clients),
nemesis.py (the faults), harness.py (the processes), checker.py (the checks), test_faults.py
(the runs and how to run the long one), tests/support/fault_proxy.py (network faults)."""
