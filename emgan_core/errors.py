"""User-facing errors: one line that says what is wrong and where.

The CLI prints ``EmganError`` as a single line and exits with status 2; any other
exception is a bug and keeps its traceback (also shown for every error with ``--debug``).
"""

from __future__ import annotations


class EmganError(Exception):
    """A problem with the user's input (file, header, recipe, parameter).

    ``where`` names the place (a file path, a recipe key) and is printed before the message.
    """

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class RecipeError(EmganError):
    """One or more problems in a recipe; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def line(self) -> str:
        return "\n".join(self.problems)


class RegistryError(EmganError):
    """Conflicting or unknown components, or a plugin that fails to load."""
