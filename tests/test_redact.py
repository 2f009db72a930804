"""The single redaction module."""

from __future__ import annotations

import logging

import pytest

from batchaio._redact import redact_data, redact_headers, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.batch.azure.com/jobs", "https://a.batch.azure.com/jobs"),
        (
            "https://a.batch.azure.com/jobs?api-version=2024-07-01.20.0&timeout=30&maxresults=10",
            "https://a.batch.azure.com/jobs?api-version=2024-07-01.20.0&timeout=30&maxresults=10",
        ),
        (
            "https://s.blob.core.windows.net/c/f.txt?sv=2022-11-02&se=2024&sp=r&sig=abc%2Bdef%3D",
            "https://s.blob.core.windows.net/c/f.txt?sv=REDACTED&se=REDACTED&sp=REDACTED&sig=REDACTED",
        ),
        (
            "https://a.batch.azure.com/jobs?%24filter=state%20eq%20%27active%27&Timeout=5",
            "https://a.batch.azure.com/jobs?%24filter=REDACTED&Timeout=5",
        ),
        ("https://user:pw@host.example/x", "https://REDACTED@host.example/x"),
        ("https://a.example/x?flag&empty=", "https://a.example/x?flag&empty="),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_finds_urls_inside_messages() -> None:
    text = "Blob 'https://s.blob.core.windows.net/c?sig=TOPSECRET' failed; see http://x/y?token=T2."
    redacted = redact_text(text)
    assert "TOPSECRET" not in redacted and "T2" not in redacted
    assert redacted.startswith("Blob 'https://s.blob.core.windows.net/c?sig=REDACTED'")


def test_redact_headers() -> None:
    headers = {"Authorization": "SharedKey a:sig", "ocp-date": "Mon", "Proxy-Authorization": "x", "X": "1"}
    assert redact_headers(headers) == {
        "Authorization": "REDACTED",
        "ocp-date": "Mon",
        "Proxy-Authorization": "REDACTED",
        "X": "1",
    }
    assert redact_headers([("authorization", "Bearer t")]) == {"authorization": "REDACTED"}


def test_redact_data_hides_secret_fields_recursively() -> None:
    pool = {
        "id": "p1",
        "userAccounts": [{"name": "admin", "password": "hunter2"}],
        "startTask": {
            "commandLine": "run",
            "environmentSettings": [{"name": "TOKEN", "value": "s3cret"}],
            "resourceFiles": [{"httpUrl": "https://s.blob.core.windows.net/c/f?sig=X", "filePath": "f"}],
        },
        "virtualMachineConfiguration": {
            "containerConfiguration": {"containerRegistries": [{"username": "u", "password": "regpw"}]}
        },
        "mountConfiguration": [{"azureBlobFileSystemConfiguration": {"accountKey": "k", "sasKey": "s"}}],
        "ssh_private_key": "-----BEGIN",
        "note": "see https://x/y?sig=INLINE",
    }
    redacted = redact_data(pool)
    text = repr(redacted)
    for secret in ("hunter2", "s3cret", "sig=X", "regpw", "'k'", "'s'", "BEGIN", "INLINE"):
        assert secret not in text
    assert redacted["id"] == "p1"
    assert redacted["startTask"]["environmentSettings"] == [{"name": "TOKEN", "value": "REDACTED"}]
    assert pool["userAccounts"][0]["password"] == "hunter2"


def test_the_log_filter_redacts_urls_in_message_and_arguments() -> None:
    import logging

    from batchaio._redact import RedactingLogFilter

    secret = "https://a.batch.azure.com/jobs?$filter=id%20eq%20%27x%27&sig=SECRET"
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "GET %s %d " + secret, (secret, 200), None)
    assert RedactingLogFilter().filter(record) is True
    assert "SECRET" not in record.getMessage()
    assert "sig=REDACTED" in record.getMessage() and " 200 " in record.getMessage()


def test_installing_the_log_filter_twice_adds_it_once() -> None:
    import logging

    from batchaio._redact import RedactingLogFilter, install_log_redaction

    install_log_redaction("batchaio.test-redaction")
    install_log_redaction("batchaio.test-redaction")
    filters = logging.getLogger("batchaio.test-redaction").filters
    assert sum(isinstance(f, RedactingLogFilter) for f in filters) == 1


def test_the_secret_fields_are_read_from_the_models() -> None:
    import attrs

    from batchaio import models
    from batchaio._fields import WIRE
    from batchaio._redact import SECRET_FIELD_NAMES, SECRET_FIELDS_INSIDE

    marked = {
        (cls.__name__, field.metadata[WIRE].name)
        for cls in vars(models).values()
        if isinstance(cls, type) and attrs.has(cls)
        for field in attrs.fields(cls)
        if WIRE in field.metadata and field.metadata[WIRE].secret
    }
    covered = {name for _, name in marked if name.lower() in SECRET_FIELD_NAMES}
    inside = {name for names in SECRET_FIELDS_INSIDE.values() for name in names}
    assert {name for _, name in marked} == covered | inside
    assert "protectedsettings" in SECRET_FIELD_NAMES  # marked in the models, missing from the old list
    assert "value" not in SECRET_FIELD_NAMES  # a listing's "value" is not a secret
    assert SECRET_FIELDS_INSIDE["uploadheaders"] == {"value"}


def test_redact_data_follows_the_model_marks_in_context() -> None:
    task = {
        "value": [{"id": "t1", "environmentSettings": [{"name": "K", "value": "s3cret"}]}],
        "outputFiles": [{"uploadOptions": {}, "destination": {"container": {
            "uploadHeaders": [{"name": "x-ms-encryption-key", "value": "hdr-secret"}]}}}],
        "extensions": [{"protectedSettings": {"key": "ext-secret"}}],
    }  # fmt: skip
    text = repr(redact_data(task))
    for secret in ("s3cret", "hdr-secret", "ext-secret"):
        assert secret not in text
    assert "'t1'" in text and "x-ms-encryption-key" in text


def test_http_stack_debug_lines_with_credential_headers_are_withheld_and_hpack_silenced(caplog) -> None:
    from batchaio._redact import install_http_stack_redaction

    install_http_stack_redaction()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("hpack.hpack").debug(
        "Decoded %s, consumed %d", (b"authorization", b"SharedKey a:SIG1"), 3
    )
    logging.getLogger("hpack.hpack").debug("Encoded header block to %s", b"\x82\x84SIG2")
    logging.getLogger("httpcore.http11").debug(
        "send_request_headers.started request=%r", [(b"Authorization", b"Bearer SIG3")]
    )
    logging.getLogger("httpcore.connection").debug("connect_tcp.started host='h' port=443")
    logging.getLogger("aiohttp.client").debug("GET %s", "https://h/jobs?sig=SIG4")
    text = caplog.text
    for secret in ("SIG1", "SIG2", "SIG3", "SIG4"):
        assert secret not in text
    assert "connect_tcp.started" in text and "withheld" in text


def test_page_and_metadata_reprs_hide_query_values() -> None:
    from batchaio import Page, ResponseMetadata

    location = "https://acct.batch.azure.com/jobs/j?sig=SECRET1&api-version=1"
    metadata = ResponseMetadata(status_code=201, location=location)
    page = Page([], "https://acct.batch.azure.com/jobs?$skiptoken=SECRET2&api-version=1", metadata)
    text = repr(page)
    assert "SECRET1" not in text and "SECRET2" not in text
    assert "api-version=1" in text
    assert page.next_link is not None and "SECRET2" in page.next_link  # the value itself is kept for resuming


def test_response_parse_errors_redact_values_quoted_from_the_body() -> None:
    from batchaio.errors import ResponseParseError

    error = ResponseParseError("expected int, got str 'https://s.blob.core.windows.net/c?sig=SECRET3'")
    assert "SECRET3" not in str(error)
