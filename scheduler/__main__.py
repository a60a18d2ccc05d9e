"""`python -m scheduler` runs the `sched` command line (which lives outside this pure package)."""

from cli.main import main

main()
