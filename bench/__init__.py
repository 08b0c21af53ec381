"""Benchmarks of the bastion against direct OpenSSH: ``python -m bench`` (see __main__)."""
