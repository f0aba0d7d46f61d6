"""The project's own exception type.

Errors a user can cause (bad params, a missing or malformed dump, too little
data) are raised as :class:`PozytywkaError`. The console script catches them
once and prints a single line; anything else is a bug and keeps its traceback.
"""


class PozytywkaError(Exception):
    """An error the user can fix: printed as one line, exit status 2."""


class ParamError(PozytywkaError):
    """A value in params.yaml is missing or outside its allowed range."""
