"""A process's background work: the outbox worker, housekeeping passes and replica checks.

Loops, schedules and sessions live here; the rules they apply live in the domain services they call (what an
event means, when it is retried, what may be pruned), the way a request's route calls a service.
Nothing in domain/, infrastructure/ or api/ imports this package: the app's lifespan (main.py) and the
command line (cli.py) start it.
"""
