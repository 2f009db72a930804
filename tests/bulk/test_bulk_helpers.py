"""Helpers the bulk path added to other modules: ``_encoder.encoder_for`` and ``_ids.is_entity_id``."""

from __future__ import annotations

import pytest

from batchaio._encoder import encoder_for
from batchaio._ids import entity_id, is_entity_id
from batchaio._serde import encode
from batchaio.errors import ValidationError
from batchaio.models import (
    BatchTaskConstraints,
    BatchTaskCreateContent,
    EnvironmentSetting,
    ResourceFile,
)


def test_encoder_for_gives_the_bytes_of_encode() -> None:
    task = BatchTaskCreateContent(
        id="t1",
        command_line="echo hi",
        environment_settings=[EnvironmentSetting(name="A", value="1")],
        resource_files=[ResourceFile(http_url="https://x/y", file_path="y")],
        constraints=BatchTaskConstraints(max_task_retry_count=2),
    )
    assert encoder_for(BatchTaskCreateContent)(task) == encode(task)


def test_encoder_for_checks_required_fields_like_encode() -> None:
    task = BatchTaskCreateContent(
        id="t1", command_line="x", environment_settings=[EnvironmentSetting(value="1")]
    )
    with pytest.raises(ValidationError) as fast:
        encoder_for(BatchTaskCreateContent)(task)
    with pytest.raises(ValidationError) as slow:
        encode(task)
    assert (fast.value.field, str(fast.value)) == (slow.value.field, str(slow.value))
    assert fast.value.field == "environment_settings[0].name"


@pytest.mark.parametrize("value", ["a", "A-b_9", "x" * 64, "", "x" * 65, "a b", "a/b", "é", "a\n"])
def test_is_entity_id_agrees_with_entity_id(value: str) -> None:
    try:
        entity_id(value, "id")
    except ValidationError:
        valid = False
    else:
        valid = True
    assert is_entity_id(value) is valid
