"""AWS-shaped error responses for each protocol."""

from __future__ import annotations

import json
import uuid
from xml.sax.saxutils import escape

from .ops import LabRequest


class LabError(Exception):
    """Raised by the fidelity layer; rendered in the request's protocol."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


Response = tuple[int, list[tuple[str, str]], bytes]

_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            500: "Internal Server Error", 503: "Service Unavailable"}


def status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Error')}"


def error_response(req: LabRequest, code: str, message: str, status: int = 400) -> Response:
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    protocol = req.protocol
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    elif protocol == "rest-xml":
        headers += [("x-amz-request-id", request_id), ("Content-Type", "application/xml")]
        if req.method == "HEAD":
            body = b""
        else:
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
                f"<RequestId>{request_id}</RequestId></Error>"
            ).encode()
    elif protocol == "ec2":
        headers.append(("Content-Type", "text/xml"))
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        headers.append(("Content-Type", "text/xml"))
        body = (
            f'<ErrorResponse xmlns="https://{req.service}.amazonaws.com/doc/">'
            f"<Error><Type>{kind}</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


def json_response(payload, status: int = 200) -> Response:
    body = json.dumps(payload, default=str).encode()
    return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4())),
                    ("Content-Length", str(len(body)))], body
