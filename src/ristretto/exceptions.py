"""Frappe's exception classes, each carrying the HTTP status Frappe gives it.

Every layer raises these; the API layer renders them (``exc_type`` is the class
name, so the names must stay Frappe's even where they shadow Python builtins).
"""

from __future__ import annotations


class FrappeError(Exception):
    """Base of every error Ristretto raises on purpose."""

    http_status = 500
    # Some errors (CSRF, masked 404s) must never carry a traceback to the client.
    suppress_traceback = False

    def __init__(self, message: str = "", *, title: str | None = None, doctype: str | None = None):
        super().__init__(message)
        self.message = message
        self.title = title
        # The DocType a DoesNotExistError/PermissionError is about (used for 404 masking).
        self.doctype = doctype


class ValidationError(FrappeError):
    http_status = 417


class AuthenticationError(FrappeError):
    http_status = 401


class SessionExpired(FrappeError):
    http_status = 401


class PermissionError(FrappeError):  # noqa: A001 - Frappe's name
    http_status = 403


class DoesNotExistError(ValidationError):
    http_status = 404


class PageDoesNotExistError(ValidationError):
    http_status = 404


class NameError(FrappeError):  # noqa: A001 - Frappe's name
    http_status = 409


class DuplicateEntryError(NameError):
    http_status = 409


class CSRFTokenError(FrappeError):
    http_status = 400
    suppress_traceback = True


class InvalidAuthorizationToken(FrappeError):
    http_status = 400


class RequestEntityTooLarge(FrappeError):
    http_status = 413


class TooManyRequestsError(FrappeError):
    http_status = 429


class InReadOnlyMode(FrappeError):
    http_status = 503


class SecurityException(FrappeError):
    http_status = 500


class PreconditionFailedError(ValidationError):
    """A conditional request's ``If-Match`` (or ``If-None-Match`` on a write) does not hold: the
    document changed since the client read it. Not a Frappe class; named in Frappe's manner."""
    http_status = 412


class QueryTimeoutError(FrappeError):
    """A database statement ran past the site's ``query_timeout`` and was cancelled.

    Frappe's class of the same name has no status of its own; Frappe answers a timed-out
    query with 508 (``frappe.app.handle_exception``), and so do we, never a 500.
    """
    http_status = 508


# Validation subclasses: all 417.
class MandatoryError(ValidationError): pass
class LinkValidationError(ValidationError): pass
class CancelledLinkError(LinkValidationError): pass
class TimestampMismatchError(ValidationError): pass
class DocstatusTransitionError(ValidationError): pass
class UpdateAfterSubmitError(ValidationError): pass
class CharacterLengthExceededError(ValidationError): pass
class UniqueValidationError(ValidationError): pass
class LinkExistsError(ValidationError): pass
class CannotChangeConstantError(ValidationError): pass
class NonNegativeError(ValidationError): pass
class InvalidEmailAddressError(ValidationError): pass
class InvalidPhoneNumberError(ValidationError): pass
class InvalidNameError(ValidationError): pass
class DataError(ValidationError): pass
class InvalidColumnName(ValidationError): pass
class FrappeValueError(ValidationError): pass
class FrappeTypeError(ValidationError): pass
class CannotCreateStandardDoctypeError(ValidationError): pass


class WriteNotCommitted(FrappeError):
    """The database gave up the transaction this request's write shared with others (group commit,
    ``ristretto.db.groupcommit``) before it could commit: nothing of the request was saved, and
    retrying it is safe."""
    http_status = 503

    def __init__(self, message: str = "The database could not commit this request's work; nothing of it "
                                      "was saved. Retry the request.", *, title: str | None = "Not saved"):
        super().__init__(message, title=title)
