"""The exception root and its families, grouped by what the user must do.

The CLI maps them to exit codes: ``InputError`` (fix the command or a file) exits 2,
``RunError`` (something failed while running) and ``GateFailed`` exit 1.
"""


class OtonomError(Exception):
    """Root of every error otonom reports to the user as one line."""

    exit_code = 1


class InputError(OtonomError):
    """Bad input: a flag, a file, a key or a value the user must correct."""

    exit_code = 2


class StrategyError(InputError):
    """A strategy or grid file that does not load or validate."""


class DataError(InputError):
    """Market data that is missing, malformed, or does not cover a window."""


class RunError(OtonomError):
    """A run that failed for a reason other than the user's input."""


class GateFailed(OtonomError):
    """A validation gate failed (CI should go red)."""


class GitStateError(InputError):
    """The git repository is not in a state a command can work in (not a repository,
    detached HEAD, uncommitted changes, a name already taken)."""


class ForgeError(RunError):
    """The forge (GitHub REST API) refused a request or could not be reached."""


class PushError(RunError):
    """``git push`` to the remote failed; the local branch and commit are kept."""
