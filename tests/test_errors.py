"""The exception tree: status mapping, Batch error bodies and secret-free messages."""

from __future__ import annotations

import builtins

import orjson
import pytest

from batchaio import errors
from batchaio.errors import (
    AuthenticationError,
    BadRequestError,
    BatchaioError,
    BatchStatusError,
    ConflictError,
    DeadlineExceededError,
    NotFoundError,
    OutcomeUnknownError,
    PreconditionFailedError,
    RequestBodyTooLargeError,
    RequestNotSentError,
    ServerError,
    ThrottledError,
    TransportError,
    ValidationError,
    error_class_for_status,
    parse_error_body,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (409, ConflictError),
        (412, PreconditionFailedError),
        (413, RequestBodyTooLargeError),
        (429, ThrottledError),
        (500, ServerError),
        (503, ServerError),
        (599, ServerError),
        (405, BatchStatusError),
        (307, BatchStatusError),
    ],
)
def test_one_function_maps_status_to_class(status: int, cls: type[BatchStatusError]) -> None:
    assert error_class_for_status(status) is cls


def test_hierarchy() -> None:
    for cls in (ValidationError, TransportError, BatchStatusError):
        assert issubclass(cls, BatchaioError)
    for cls in (RequestNotSentError, OutcomeUnknownError, DeadlineExceededError):
        assert issubclass(cls, TransportError)
    assert issubclass(DeadlineExceededError, builtins.TimeoutError)
    assert issubclass(ValidationError, ValueError)
    assert RequestNotSentError("x").outcome_unknown is False
    assert OutcomeUnknownError("x").outcome_unknown is True
    for name in errors.__all__:
        assert name in (errors.__doc__ or "") or name in {
            "parse_error_body",
            "decode_error_body",
            "error_class_for_status",
            "error_message",
        }


def test_validation_error_is_unchanged() -> None:
    error = ValidationError("bad id", field="value[3].id")
    assert (str(error), error.field) == ("bad id", "value[3].id")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", (None, "", {})),
        (b"not json", (None, "not json", {})),
        (b"[1,2]", (None, "", {})),
        (b"{}", (None, "", {})),
        (
            orjson.dumps(
                {
                    "code": "JobNotFound",
                    "message": {"lang": "en-US", "value": "The specified job does not exist.\nRequestId:r"},
                    "values": [
                        {"key": "Reason", "value": "gone"},
                        {"name": "Formula", "value": None},
                        "junk",
                    ],
                }
            ),
            (
                "JobNotFound",
                "The specified job does not exist.\nRequestId:r",
                {"Reason": "gone", "Formula": ""},
            ),
        ),
        (orjson.dumps({"message": "plain"}), (None, "plain", {})),
        (orjson.dumps({"code": 12, "values": {"not": "a list"}}), ("12", "", {})),
    ],
)
def test_parse_error_body_tolerates_anything(content: bytes, expected: tuple[object, ...]) -> None:
    assert parse_error_body(content) == expected


def test_status_error_attributes_and_str() -> None:
    error = NotFoundError(
        404,
        code="JobNotFound",
        message="The specified job does not exist.\nRequestId:abc\nTime:2024-07-01",
        values={"Reason": "x"},
        request_id="srv-1",
        client_request_id="cli-1",
        method="GET",
        url="https://a.batch.azure.com/jobs/j1?api-version=2024-07-01.20.0",
    )
    text = str(error)
    assert text.startswith("404 JobNotFound: The specified job does not exist. (GET")
    assert error.message == "The specified job does not exist."
    assert "request-id=srv-1" in text and "client-request-id=cli-1" in text
    assert "GET https://a.batch.azure.com/jobs/j1?api-version=2024-07-01.20.0" in text
    assert (error.status_code, error.code, error.values) == (404, "JobNotFound", {"Reason": "x"})


def test_status_error_without_body_is_readable() -> None:
    assert str(ServerError(502)) == "502 error"


def test_status_error_redacts_urls_in_message_values_and_url() -> None:
    error = BadRequestError(
        400,
        code="InvalidInput",
        message="cannot read https://s.blob.core.windows.net/c/f?sv=2020&sig=SECRET1",
        values={"Url": "https://s.blob.core.windows.net/c?sig=SECRET2"},
        url="https://a.batch.azure.com/jobs?sig=SECRET3&maxresults=5",
    )
    text = f"{error} {error!r} {error.args} {error.message} {error.values} {error.url}"
    for secret in ("SECRET1", "SECRET2", "SECRET3"):
        assert secret not in text
    assert "maxresults=5" in text


def test_transport_error_str_redacts_and_names_the_call() -> None:
    error = OutcomeUnknownError(
        "ReadTimeout", method="POST", url="https://a.batch.azure.com/x?sig=S&timeout=30", attempts=3,
        client_request_id="c-9",
    )  # fmt: skip
    text = str(error)
    assert "sig=S&" not in text and "timeout=30" in text
    assert "attempts=3" in text and "c-9" in text and "POST" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No such job.\nRequestId:0b1c-2d\nTime:2024-07-01T10:15:30.1234567Z", "No such job."),
        ("One.\r\nRequestId:abc\r\nTime:2024", "One."),
        ("Two lines.\nSecond line.", "Two lines.\nSecond line."),
        ("Mentions RequestId: inline.", "Mentions RequestId: inline."),
        ("", ""),
    ],
)  # fmt: skip
def test_error_message_drops_the_service_trailer(text: str, expected: str) -> None:
    assert errors.error_message(text) == expected


def test_status_errors_keep_the_decoded_error_redacted() -> None:
    body = orjson.dumps(
        {
            "code": "InvalidPropertyValue",
            "message": {
                "lang": "en-US",
                "value": "bad https://s.blob.core.windows.net/c?sig=SECRET1\nRequestId:r",
            },
            "values": [{"key": "PropertyValue", "value": "https://s/c?sig=SECRET2"}],
        }
    )
    error = BadRequestError(400, error=errors.decode_error_body(body), headers={"Set-Cookie": "SECRET3"})
    assert error.code == "InvalidPropertyValue" and error.error is not None
    text = f"{error} {error.error!r} {error.headers} {error.values}"
    for secret in ("SECRET1", "SECRET2", "SECRET3"):
        assert secret not in text
    assert error.message == "bad https://s.blob.core.windows.net/c?sig=REDACTED"
