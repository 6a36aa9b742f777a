"""One exception hierarchy, mapped once to Mailtrap-shaped responses.

Services raise these; ``chalicelib.core.http`` turns them into HTTP responses and the SMTP
server into SMTP replies. The bodies are the ones Mailtrap's API documents:
401 ``{"error": "Incorrect API token"}``, 403 ``{"errors": "Account access forbidden"}``,
404 ``{"error": "Not Found"}``, 422 ``{"errors": {"field": ["message"]}}``,
429 ``{"errors": "Rate limit exceeded"}``.
"""

from __future__ import annotations

from typing import Any


class PostlineError(Exception):
    status = 500
    smtp_reply = "451 4.3.0 Temporary server error, try again later"

    def __init__(self, message: str = "Unexpected error") -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"errors": self.message}

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(PostlineError):
    status = 400

    def __init__(self, message: str = "Bad request") -> None:
        super().__init__(message)


class Unauthorized(PostlineError):
    status = 401
    smtp_reply = "535 5.7.8 Authentication credentials invalid"

    def __init__(self, message: str = "Incorrect API token") -> None:
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        return {"error": self.message}


class Forbidden(PostlineError):
    status = 403
    smtp_reply = "550 5.7.1 Access forbidden"

    def __init__(self, message: str = "Account access forbidden") -> None:
        super().__init__(message)


class NotFound(PostlineError):
    status = 404

    def __init__(self, message: str = "Not Found") -> None:
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        return {"error": self.message}


class Conflict(PostlineError):
    status = 409

    def __init__(self, message: str = "Conflict") -> None:
        super().__init__(message)


class PayloadTooLarge(PostlineError):
    status = 413
    smtp_reply = "552 5.3.4 Message size exceeds fixed maximum message size"

    def __init__(self, message: str = "Request body is too large") -> None:
        super().__init__(message)


class Unprocessable(PostlineError):
    """Validation failure: ``errors`` maps a field (or ``base``) to its messages."""

    status = 422
    smtp_reply = "550 5.6.0 Message rejected"

    def __init__(self, errors: dict[str, list[str]] | str) -> None:
        if isinstance(errors, str):
            errors = {"base": [errors]}
        self.errors = errors
        first = next(iter(errors.items()))
        super().__init__(f"{first[0]}: {first[1][0]}" if first[0] != "base" else first[1][0])

    @classmethod
    def field(cls, name: str, message: str) -> Unprocessable:
        return cls({name: [message]})

    def body(self) -> dict[str, Any]:
        return {"errors": self.errors}


class RateLimited(PostlineError):
    status = 429
    smtp_reply = "421 4.7.0 Rate limit exceeded, try again later"

    def __init__(self, retry_after: int, message: str = "Rate limit exceeded") -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooManyFailures(RateLimited):
    """Too many failed authentications from one client IP or with one token prefix."""

    smtp_reply = "454 4.7.0 Too many failed authentication attempts, try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, "Too many failed authentication attempts, try again later")
