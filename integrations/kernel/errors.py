"""Domain errors that services raise; the API turns each kind into its HTTP status and error object.

They live in the lowest app so that every layer can raise them without importing upwards.
"""


class DomainError(Exception):
    """A refused request: `code` is the stable machine word of API.md, `param` the field at fault."""

    http_status = 400

    def __init__(self, message: str, *, code: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


class InvalidRequest(DomainError):
    http_status = 400


class NotFound(DomainError):
    http_status = 404

    def __init__(self, message: str = "No such object.", *, code: str = "resource_missing", param=None):
        super().__init__(message, code=code, param=param)


class Conflict(DomainError):
    http_status = 409


class Unprocessable(DomainError):
    http_status = 422


class CardError(DomainError):
    http_status = 402


class RateLimited(DomainError):
    """Too many attempts: the API answers 429 with `Retry-After: retry_after` (seconds)."""

    http_status = 429

    def __init__(self, message: str, *, retry_after: int, code: str = "rate_limited", param: str | None = None):
        super().__init__(message, code=code, param=param)
        self.retry_after = max(1, int(retry_after))


class ServiceUnavailable(DomainError):
    """Something we depend on gave no answer (a payment gateway): 503, nothing was done, try again."""

    http_status = 503
