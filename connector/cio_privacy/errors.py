"""The two kinds of failure a command reports, each with its exit status."""


class UsageError(Exception):
    """Bad input or configuration: said in one line, exit status 2."""

    exit_status = 2


class SafetyGuardError(Exception):
    """A guard refused to run (for example too many deletions): exit status 3."""

    exit_status = 3
