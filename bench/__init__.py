"""Benchmarks of the running service (not timed tests): `make bench`."""
