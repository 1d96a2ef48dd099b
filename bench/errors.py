"""The two kinds of failure the command line turns into one-line messages."""


class UsageError(Exception):
    """Bad input from the user (flag, variant name, URL, file): exit code 2."""


class BenchError(Exception):
    """Something failed while running (a server, the database, a tool): exit code 1."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
