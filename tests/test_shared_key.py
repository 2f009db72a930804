"""``batchaio._shared_key.string_to_sign`` against the canonical text spelled out step by step.

The reference below follows the documented recipe literally (lower-case every name, the eleven standard
headers in order, ``Content-Length`` ``0`` for a bodiless write, the ``ocp-`` headers sorted, the resource);
the implementation reads the headers in one pass and must give the same text for any headers.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchaio._shared_key import _SIGNED_STANDARD_HEADERS, canonical_resource, string_to_sign

_STANDARD = _SIGNED_STANDARD_HEADERS  # the header order is the documentation's; the rest is spelled out here
URL = (
    "https://acct.westeurope.batch.azure.com/jobs/j1/tasks?api-version=2024-07-01.20.0&$filter=state%20eq%201"
)


def reference(method: str, url: str, headers: Mapping[str, str], account: str) -> str:
    lowered = {name.lower(): value for name, value in headers.items()}
    lines = [method.upper(), *[lowered.get(name, "") for name in _STANDARD]]
    if not lines[3] and method.upper() not in ("GET", "HEAD"):
        lines[3] = "0"
    ocp = sorted(name for name in lowered if name.startswith("ocp-") and lowered[name])
    lines += [f"{name}:{lowered[name]}" for name in ocp]
    lines.append(canonical_resource(url, account))
    return "\n".join(lines)


_NAMES = st.sampled_from(
    [*_STANDARD, "Content-Length", "Content-Type", "If-Match", "ocp-date", "OCP-Date", "ocp-range",
     "Ocp-Custom", "client-request-id", "Host", "Authorization", "x-ocp-not", "ocp"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "post"]),
    headers=st.dictionaries(_NAMES, st.sampled_from(["", "0", "12", "v", "a b"]), max_size=10),
)
def test_the_text_is_the_documented_recipe_for_any_headers(method: str, headers: dict[str, str]) -> None:
    assert string_to_sign(method, URL, headers, "acct") == reference(method, URL, headers, "acct")


@pytest.mark.parametrize(
    ("method", "headers", "lines"),
    [
        ("POST", {}, {3: "0"}),
        ("GET", {}, {}),
        ("PUT", {"Content-Length": "5", "content-type": "application/json"}, {3: "5", 5: "application/json"}),
        # names differing only in case: the later one is signed, as HTTP libraries send it
        ("GET", {"If-Match": "a", "if-match": "b"}, {8: "b"}),
    ],
)
def test_standard_lines(method: str, headers: dict[str, str], lines: dict[int, str]) -> None:
    text = string_to_sign(method, URL, headers, "acct").split("\n")
    assert text[:12] == [method, *[lines.get(number, "") for number in range(1, 12)]]


def test_ocp_headers_are_sorted_and_empty_ones_left_out() -> None:
    text = string_to_sign("GET", URL, {"ocp-zeta": "z", "OCP-Date": "d", "ocp-empty": ""}, "acct")
    assert text.split("\n")[12:14] == ["ocp-date:d", "ocp-zeta:z"]
