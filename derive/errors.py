"""The one exception type that the command line turns into a one-line message and exit status 2."""


class DeriveError(Exception):
    """Bad input from the user: a malformed spec, a missing file, an impossible option.

    ``problems`` holds one line per distinct problem; ``str()`` joins them with newlines.
    """

    def __init__(self, *problems: str):
        self.problems = tuple(problems) or ("unknown error",)
        super().__init__("\n".join(self.problems))
