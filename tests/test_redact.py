"""The single redaction module."""

from __future__ import annotations

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
