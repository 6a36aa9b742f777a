"""The error a template raises; apart from the engine so raising it loads no template machinery."""

from __future__ import annotations

from chalicelib.core.errors import PostlineError, Unprocessable


class TemplateError(Unprocessable):
    """A template that can't be saved or rendered; a 422 naming the problem when it reaches HTTP."""

    def __init__(self, message: str, field: str = "base") -> None:
        super().__init__({field: [message]})
        self.field = field
        self.reason = message


class OutOfRange(PostlineError):
    """A page parameter out of range (a token beyond the last page): 422 with a plain message,
    as Mailtrap answers."""

    status = 422
