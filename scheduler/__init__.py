"""The pure core of the scheduler: domain, ledger import, solvers, validator.

Nothing in this package imports a web framework, a database session or a queue;
it is used as a library by the CLI, the API and the workers.
"""
