"""The `sched` command line."""
