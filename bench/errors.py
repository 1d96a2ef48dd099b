"""The two kinds of failure the command line turns into one-line messages."""


class UsageError(Exception):
    """Bad input from the user (flag, variant name, URL, file): exit code 2."""


class BenchError(Exception):
    """Something failed while running (a server, the database, a tool): exit code 1."""
