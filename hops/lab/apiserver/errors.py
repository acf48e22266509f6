"""ApiError and the `Status` bodies a real kube-apiserver answers with (same reasons, codes and message texts)."""

from __future__ import annotations

REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

# The messages a real apiserver sends with an otherwise bare status code.
DEFAULT_MESSAGES: dict[int, str] = {
    401: "Unauthorized",
    403: "forbidden",
    404: "the server could not find the requested resource",
    405: "the server does not allow this method on the requested resource",
    429: "the server has received too many requests and has asked us to try again later",
    500: "an error on the server has prevented the request from succeeding",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted, but may still be processing the request",
}


class ApiError(Exception):
    """A Kubernetes API failure: HTTP `code`, Status `reason` (e.g. "NotFound") and the apiserver's `message`."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.reason!r}, {self.message!r})"

    def status(self) -> dict:
        """The `Status` body sent to HTTP clients."""
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def from_code(code: int, message: str | None = None) -> ApiError:
    """An error for a bare HTTP status (gate and fault hooks): the real reason and default message for it."""
    reason = REASONS.get(code, "Unknown" if code >= 400 else "")
    return ApiError(code, reason, message or DEFAULT_MESSAGES.get(code, f"the server responded with the status code {code}"))


def _details(name: str, group: str, kind: str) -> dict:
    details = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    return details


def not_found(group: str, plural: str, name: str) -> ApiError:
    """`deployments.apps "x" not found` / `namespaces "x" not found`."""
    return ApiError(404, "NotFound", f'{qualified(group, plural)} "{name}" not found', _details(name, group, plural))


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(group, plural)} "{name}" already exists',
                    _details(name, group, plural))


def conflict(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {qualified(group, plural)} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        _details(name, group, plural))


def invalid(group: str, kind: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid. causes: (reason e.g. "FieldValueRequired", field path, message without the field)."""
    label = f"{kind}.{group}" if group else kind
    texts = [f"{field}: {text}" for _, field, text in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = _details(name, group, kind)
    details["causes"] = [{"reason": reason, "message": text, "field": field} for reason, field, text in causes]
    return ApiError(422, "Invalid", f'{label} "{name}" is invalid: {joined}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def resource_not_found() -> ApiError:
    return ApiError(404, "NotFound", DEFAULT_MESSAGES[404], {})


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", DEFAULT_MESSAGES[405], {})


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(accepted)}", {})


def gone(requested: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural
