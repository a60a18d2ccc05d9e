"""dramatiq actors on Redis that solve and re-solve schedules."""
