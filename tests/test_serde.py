"""Wire rules of batchaio._serde, table by table."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta, timezone

import attrs
import orjson
import pytest
from cattrs.errors import ForbiddenExtraKeysError

import batchaio
from batchaio import models
from batchaio._encoder import encoder_for
from batchaio._fields import wire_field
from batchaio._serde import (
    UNBOUNDED_DURATION,
    converter,
    decode,
    decode_page,
    encode,
    format_datetime,
    format_duration,
    parse_datetime,
    parse_duration,
    strict_converter,
    to_wire,
)
from batchaio.errors import ValidationError

UTC = timezone.utc


def test_converter_is_public() -> None:
    assert batchaio.converter is converter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-07-01T10:15:30Z", datetime(2024, 7, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-07-01T10:15:30.1234Z", datetime(2024, 7, 1, 10, 15, 30, 123400, tzinfo=UTC)),
        ("2024-07-01T10:15:30.12345Z", datetime(2024, 7, 1, 10, 15, 30, 123450, tzinfo=UTC)),
        ("2024-07-01T10:15:30.123456Z", datetime(2024, 7, 1, 10, 15, 30, 123456, tzinfo=UTC)),
        ("2024-07-01T10:15:30.1234567Z", datetime(2024, 7, 1, 10, 15, 30, 123456, tzinfo=UTC)),
        ("2024-07-01T10:15:30.9999999Z", datetime(2024, 7, 1, 10, 15, 30, 999999, tzinfo=UTC)),
        ("2024-07-01T10:15:30+00:00", datetime(2024, 7, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-07-01T12:15:30.5+02:00", datetime(2024, 7, 1, 10, 15, 30, 500000, tzinfo=UTC)),
        ("2024-07-01T00:15:30-05:30", datetime(2024, 7, 1, 5, 45, 30, tzinfo=UTC)),
        ("2024-07-01t10:15:30z", datetime(2024, 7, 1, 10, 15, 30, tzinfo=UTC)),
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2024-07-01",
        "2024-07-01T10:15:30",  # no zone: ambiguous
        "2024-07-01 10:15:30Z",
        "2024-07-01T10:15:30.12345678Z",  # 8 digits
        "2024-07-01T10:15:30.Z",
        "2024-13-01T10:15:30Z",
        "2024-07-01T25:15:30Z",
        "20240701T101530Z",
        "yesterday",
    ],
)
def test_parse_datetime_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 7, 1, 10, 15, 30, tzinfo=UTC), "2024-07-01T10:15:30Z"),
        (datetime(2024, 7, 1, 10, 15, 30, 120000, tzinfo=UTC), "2024-07-01T10:15:30.120000Z"),
        (datetime(2024, 7, 1, 12, 15, 30, tzinfo=timezone(timedelta(hours=2))), "2024-07-01T10:15:30Z"),
    ],
)
def test_format_datetime(value: datetime, text: str) -> None:
    assert format_datetime(value) == text


def test_format_datetime_refuses_naive_datetimes() -> None:
    with pytest.raises(ValidationError, match="start_time must be timezone-aware") as info:
        format_datetime(datetime(2024, 7, 1, 10, 15, 30), "start_time")
    assert info.value.field == "start_time"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT30S", timedelta(seconds=30)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P7D", timedelta(days=7)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT7M9.497S", timedelta(minutes=7, seconds=9, milliseconds=497)),
        ("PT0S", timedelta(0)),
        ("PT0.0000001S", timedelta(0)),
        ("P2W", timedelta(days=14)),
        ("PT36H", timedelta(hours=36)),
        ("-PT5S", timedelta(seconds=-5)),
        ("P10675199DT2H48M5.4775807S", timedelta(days=10675199, seconds=10085, microseconds=477580)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_unbounded_duration_fits_timedelta() -> None:
    assert parse_duration("P10675199DT2H48M5.4775807S") == UNBOUNDED_DURATION < timedelta.max


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1Y", "P1M", "PT1.5H", "1D", "P1DT", "PT-5S", "P1D2H", "30"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "PT0S"),
        (timedelta(seconds=30), "PT30S"),
        (timedelta(hours=1, minutes=30), "PT1H30M"),
        (timedelta(days=7), "P7D"),
        (timedelta(days=1, hours=2), "P1DT2H"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=500), "P1DT2H3M4.5S"),
        (timedelta(minutes=7, seconds=9, milliseconds=497), "PT7M9.497S"),
        (timedelta(microseconds=1), "PT0.000001S"),
        (timedelta(seconds=-5), "-PT5S"),
        (UNBOUNDED_DURATION, "P10675199DT2H48M5.4775807S"),
        (timedelta.max, "P999999999DT23H59M59.999999S"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


@pytest.mark.parametrize(
    ("wire", "expected"), [("120", 120), (120, 120), ("0", 0), ("9223372036854775807", 2**63 - 1)]
)
def test_int64_as_string_in(wire: object, expected: int) -> None:
    stats = converter.structure({"readIOps": wire, "writeIOps": wire}, models.BatchTaskStatistics)
    assert stats.read_iops == expected
    assert stats.write_iops == expected


def test_int64_as_string_out() -> None:
    stats = models.BatchTaskStatistics(read_iops=120, write_iops=0, read_io_gib=1.5)
    assert converter.unstructure(stats) == {"readIOps": "120", "writeIOps": "0", "readIOGiB": 1.5}
    props = models.FileProperties(content_length=2**40)
    assert converter.unstructure(props) == {"contentLength": "1099511627776"}


@pytest.mark.parametrize(
    ("wire", "member"),
    [
        ("success", models.BatchTaskAddStatus.SUCCESS),
        ("Success", models.BatchTaskAddStatus.SUCCESS),
        ("SUCCESS", models.BatchTaskAddStatus.SUCCESS),
        ("clientError", models.BatchTaskAddStatus.CLIENT_ERROR),
        ("servererror", models.BatchTaskAddStatus.SERVER_ERROR),
    ],
)
def test_enum_spelling(wire: str, member: models.BatchTaskAddStatus) -> None:
    result = converter.structure({"status": wire, "taskId": "t"}, models.BatchTaskAddResult)
    assert result.status is member
    assert converter.unstructure(result)["status"] == member.value


@pytest.mark.parametrize(
    ("cls", "key", "wire"),
    [
        (models.BatchTaskAddResult, "status", "partialsuccess"),
        (models.BatchNode, "state", "Hibernating"),
        (models.BatchPoolIdentity, "type", "SystemAssigned"),
    ],
)
def test_unknown_enum_value_round_trips_unchanged(cls: type, key: str, wire: str) -> None:
    parsed = converter.structure({key: wire}, cls)
    value = getattr(parsed, key)
    assert isinstance(value, type(getattr(parsed, key)))
    assert value.value == wire
    assert not value.is_known
    assert converter.unstructure(parsed) == {key: wire}


def test_enum_list_and_spec_case() -> None:
    ref = converter.structure(
        {"thumbprint": "t", "thumbprintAlgorithm": "sha1", "visibility": ["StartTask", "remoteuser"]},
        models.BatchCertificateReference,
    )
    assert ref.visibility == [
        models.BatchCertificateVisibility.START_TASK,
        models.BatchCertificateVisibility.REMOTE_USER,
    ]
    identity = converter.structure({"type": "userassigned"}, models.BatchPoolIdentity)
    assert identity.type is models.BatchPoolIdentityType.USER_ASSIGNED
    assert converter.unstructure(identity) == {"type": "UserAssigned"}


def test_a_str_for_a_known_enum_value_is_sent_with_the_canonical_spelling() -> None:
    update = models.BatchJobUpdateContent(on_all_tasks_complete="TERMINATEJOB")  # type: ignore[arg-type]
    assert to_wire(update) == {"onAllTasksComplete": "terminatejob"}
    identity = models.BatchPoolIdentity(type="userassigned")  # type: ignore[arg-type]
    assert to_wire(identity) == {"type": "UserAssigned"}
    ref = models.BatchCertificateReference(
        thumbprint="t",
        thumbprint_algorithm="sha1",
        visibility=["STARTTASK", "somethingNew"],  # type: ignore[list-item]
    )
    assert to_wire(ref)["visibility"] == ["starttask", "somethingNew"]


def test_none_fields_are_omitted_and_renamed() -> None:
    task = models.BatchTaskCreateContent(id="t1", command_line="echo", required_slots=2)
    assert converter.unstructure(task) == {"id": "t1", "commandLine": "echo", "requiredSlots": 2}


def test_odata_and_unknown_keys_are_ignored() -> None:
    body = {"odata.metadata": "https://x/$metadata#jobs/@Element", "id": "j", "newField2030": {"a": 1}}
    job = converter.structure(body, models.BatchJob)
    assert job == models.BatchJob(id="j")


def test_strict_converter_rejects_unknown_keys_but_not_odata() -> None:
    assert strict_converter.structure({"odata.metadata": "m", "id": "j"}, models.BatchJob).id == "j"
    with pytest.raises(ForbiddenExtraKeysError):
        strict_converter.structure({"id": "j", "eTAG": "x"}, models.BatchJob)
    with pytest.raises(ForbiddenExtraKeysError):
        strict_converter.structure({"id": "j", "constraints": {"maxWallClock": "PT1S"}}, models.BatchJob)


def test_explicit_nulls_parse_as_none() -> None:
    task = converter.structure(
        {"id": None, "state": None, "constraints": None, "resourceFiles": None, "stats": {"readIOps": None}},
        models.BatchTask,
    )
    assert task == models.BatchTask(stats=models.BatchTaskStatistics())


def test_partial_response_parses() -> None:
    # $select=id,state: fields the schema marks required are simply absent
    pool = decode(models.BatchPool, b'{"id": "p", "state": "active"}')
    assert pool == models.BatchPool(id="p", state=models.BatchPoolState.ACTIVE)
    assert decode(models.BatchJobStatistics, b"{}") == models.BatchJobStatistics()


def test_required_fields_named_by_nested_path() -> None:
    group = models.BatchTaskGroup(
        value=[
            models.BatchTaskCreateContent(id="a", command_line="x"),
            models.BatchTaskCreateContent(id="b", command_line="y"),
            models.BatchTaskCreateContent(id="c", command_line="z"),
            models.BatchTaskCreateContent(id="d"),
        ]
    )
    with pytest.raises(ValidationError, match=r"^value\[3\]\.command_line is required$") as info:
        encode(group)
    assert info.value.field == "value[3].command_line"


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (models.BatchTaskGroup(), "value"),
        (models.BatchTaskCreateContent(command_line="x"), "id"),
        (
            models.BatchTaskCreateContent(
                id="t", command_line="x", environment_settings=[models.EnvironmentSetting(value="v")]
            ),
            "environment_settings[0].name",
        ),
        (
            models.BatchTaskCreateContent(
                id="t",
                command_line="x",
                output_files=[
                    models.OutputFile(
                        file_pattern="*",
                        destination=models.OutputFileDestination(
                            container=models.OutputFileBlobContainerDestination()
                        ),
                        upload_options=models.OutputFileUploadConfig(upload_condition="tasksuccess"),  # type: ignore[arg-type]
                    )
                ],
            ),
            "output_files[0].destination.container.container_url",
        ),
        (
            models.BatchJobCreateContent(
                id="j",
                pool_info=models.BatchPoolInfo(
                    auto_pool_specification=models.BatchAutoPoolSpecification(
                        pool_lifetime_option=models.BatchPoolLifetimeOption.JOB,
                        pool=models.BatchPoolSpecification(
                            vm_size="standard_d2s_v3",
                            virtual_machine_configuration=models.VirtualMachineConfiguration(
                                image_reference=models.ImageReference(),
                            ),
                        ),
                    )
                ),
            ),
            "pool_info.auto_pool_specification.pool.virtual_machine_configuration.node_agent_sku_id",
        ),
        (
            models.BatchPoolReplaceContent(certificate_references=[], application_package_references=[]),
            "metadata",
        ),
    ],
)
def test_required_field_paths(model: object, path: str) -> None:
    with pytest.raises(ValidationError) as info:
        to_wire(model)
    assert info.value.field == path
    assert str(info.value) == f"{path} is required"


def test_required_validation_accepts_complete_bodies() -> None:
    body = models.BatchPoolReplaceContent(
        certificate_references=[], application_package_references=[], metadata=[]
    )
    assert orjson.loads(encode(body)) == {
        "certificateReferences": [],
        "applicationPackageReferences": [],
        "metadata": [],
    }
    upload = models.OutputFileUploadConfig(upload_condition=models.OutputFileUploadCondition.TASK_SUCCESS)
    assert to_wire(upload) == {"uploadCondition": "tasksuccess"}


def test_read_only_fields_are_not_sent() -> None:
    task = decode(
        models.BatchTask,
        b'{"id": "t", "eTag": "0x1", "state": "active", "commandLine": "x",'
        b' "constraints": {"maxTaskRetryCount": 2, "retentionTime": "P7D"}}',
    )
    assert to_wire(task) == {"constraints": {"maxTaskRetryCount": 2, "retentionTime": "P7D"}}
    job = models.BatchJob(id="j", state=models.BatchJobState.ACTIVE, priority=5)
    with pytest.raises(ValidationError, match="pool_info is required"):
        to_wire(job)  # read-only fields are never required, poolInfo (writable, required) is
    job.pool_info = models.BatchPoolInfo(pool_id="p")
    assert to_wire(job) == {"priority": 5, "poolInfo": {"poolId": "p"}}
    # the full form keeps read-only fields (what the service itself sends)
    assert converter.unstructure(job)["id"] == "j"


def test_read_only_fields_left_out_at_depth() -> None:
    spec = models.BatchPoolSpecification(
        vm_size="s",
        virtual_machine_configuration=models.VirtualMachineConfiguration(
            node_agent_sku_id="batch.node.ubuntu 22.04",
            image_reference=models.ImageReference(publisher="p", exact_version="1.2.3"),
        ),
    )
    wire = to_wire(spec)
    assert wire["virtualMachineConfiguration"]["imageReference"] == {"publisher": "p"}


def test_to_wire_rejects_non_models() -> None:
    with pytest.raises(TypeError):
        to_wire({"id": "x"})


def test_decode_accepts_str_and_bytes() -> None:
    assert decode(models.BatchJob, '{"id": "j"}') == decode(models.BatchJob, b'{"id": "j"}')


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"creationTime": "yesterday"}',
        b'{"constraints": 5}',
        b'{"priority": "high"}',
        b'{"constraints": {"maxWallClockTime": "P99999999999D"}}',
        b'{"creationTime": "0001-01-01T00:00:00+01:00"}',
        b'{"id": {"a": 1}}',
        b'{"id": 5}',
        b'{"priority": 1.7}',
        b'{"priority": true}',
        b'{"priority": "1"}',
        b'{"constraints": {"maxTaskRetryCount": 1.7}}',
        b'{"constraints": {"maxTaskRetryCount": true}}',
        b'{"metadata": {"name": "a"}}',
        b'{"metadata": [{"name": "a", "value": 1}]}',
        b'{"onAllTasksComplete": 5}',
    ],
)
def test_decode_errors_are_value_errors(content: bytes) -> None:
    with pytest.raises(ValueError):
        decode(models.BatchJob, content)


@pytest.mark.parametrize(
    "content",
    [
        b'{"nodeList": ["a", null]}',
        b'{"nodeList": "abc"}',
        b'{"nodeList": [1]}',
        b'{"nodeList": {"a": "b"}}',
    ],
)
def test_lists_of_strings_are_not_coerced(content: bytes) -> None:
    with pytest.raises(ValueError):
        decode(models.BatchNodeRemoveContent, content)


@pytest.mark.parametrize("wire", [True, 1.5, "1.5", "12a", "", [1]])
def test_int64_as_string_rejects_non_integers(wire: object) -> None:
    with pytest.raises(ValueError):
        decode(models.BatchTaskStatistics, orjson.dumps({"readIOps": wire}))


def test_floats_accept_integers() -> None:
    stats = decode(models.BatchTaskStatistics, b'{"readIOGiB": 2, "writeIOGiB": 0.5}')
    assert stats.read_io_gib == 2.0 and stats.read_io_gib.__class__ is float
    with pytest.raises(ValueError):
        decode(models.BatchTaskStatistics, b'{"readIOGiB": true}')


def test_decode_page() -> None:
    items, link = decode_page(
        models.BatchJob,
        b'{"odata.metadata": "m", "value": [{"id": "a"}, {"id": "b"}], "odata.nextLink": "https://x/jobs?$skiptoken=1"}',
    )
    assert [job.id for job in items] == ["a", "b"]
    assert link == "https://x/jobs?$skiptoken=1"
    assert decode_page(models.BatchJob, b'{"value": []}') == ([], None)


def test_decode_page_pauses_the_garbage_collector_and_restores_it() -> None:
    task = {"id": "t", "executionInfo": {"exitCode": 0}, "nodeInfo": {"poolId": "p"}, "constraints": {}}
    body = orjson.dumps({"value": [task] * 3000})
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    assert gc.isenabled()
    gc.callbacks.append(count)
    try:
        items, _ = decode_page(models.BatchTask, body)
    finally:
        gc.callbacks.remove(count)
    assert len(items) == 3000
    # 12,000 models and as many dicts: without the pause, dozens of collections, of older generations too;
    # with it, at most the one that the first allocation after the call sets off
    assert len(collections) <= 1
    assert gc.isenabled()

    @attrs.define
    class Probe:
        id: str | None = wire_field("id")

        def __attrs_post_init__(self) -> None:
            seen.append(gc.isenabled())

    seen: list[bool] = []
    decode_page(Probe, b'{"value": [{"id": "a"}, {"id": "b"}]}')
    assert seen == [False, False] and gc.isenabled()
    with pytest.raises(ValueError, match="expected a JSON object"):
        decode_page(models.BatchTask, b'{"value": [1]}')
    assert gc.isenabled()
    gc.disable()
    try:
        decode_page(models.BatchTask, body)
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()


def test_secret_values_stay_out_of_repr() -> None:
    task = models.BatchTaskCreateContent(
        id="t",
        command_line="x",
        environment_settings=[models.EnvironmentSetting(name="TOKEN", value="hunter2")],
        resource_files=[models.ResourceFile(http_url="https://a/b?sig=SIGNATURE")],
    )
    text = repr(task)
    assert "hunter2" not in text
    assert "SIGNATURE" not in text
    assert "TOKEN" in text
    assert "'***'" in text


@pytest.mark.parametrize(
    ("model", "field", "message"),
    [
        (models.BatchNodeRemoveContent(node_list="tvm-1"), "node_list", "must be a list, not str"),  # type: ignore[arg-type]
        (models.BatchNodeRemoveContent(node_list=["a", 5]), "node_list[1]", "must be a str, not int"),  # type: ignore[list-item]
        (models.BatchNodeRemoveContent(node_list=["a", None]), "node_list[1]", "must be a str"),  # type: ignore[list-item]
        (models.BatchTaskCreateContent(id=5, command_line="x"), "id", "must be a str, not int"),  # type: ignore[arg-type]
        (
            models.BatchTaskCreateContent(
                id="t",
                command_line="x",
                constraints=models.BatchTaskConstraints(max_task_retry_count="3"),  # type: ignore[arg-type]
            ),
            "constraints.max_task_retry_count",
            "must be an int, not str",
        ),
        (
            models.BatchTaskCreateContent(
                id="t", command_line="x", constraints=models.BatchTaskConstraints(max_task_retry_count=True)
            ),
            "constraints.max_task_retry_count",
            "must be an int, not bool",
        ),
        (
            models.BatchTaskCreateContent(
                id="t",
                command_line="x",
                constraints=models.BatchTaskConstraints(max_wall_clock_time=3600),  # type: ignore[arg-type]
            ),
            "constraints.max_wall_clock_time",
            "must be a timedelta, not int",
        ),
        (
            models.BatchJobCreateContent(id="j", pool_info={"poolId": "p"}),  # type: ignore[arg-type]
            "pool_info",
            "must be a BatchPoolInfo, not dict",
        ),
        (
            models.BatchJobCreateContent(id="j", pool_info=models.BatchPoolInfo(), priority=1.5),  # type: ignore[arg-type]
            "priority",
            "must be an int, not float",
        ),
        (
            models.BatchJobDisableContent(disable_tasks=1),  # type: ignore[arg-type]
            "disable_tasks",
            "must be a DisableBatchJobOption or str, not int",
        ),
        (
            models.BatchJobScheduleCreateContent(
                id="s",
                schedule=models.BatchJobScheduleConfiguration(do_not_run_until=datetime(2024, 7, 1)),
                job_specification=models.BatchJobSpecification(pool_info=models.BatchPoolInfo()),
            ),
            "schedule.do_not_run_until",
            "must be a timezone-aware datetime, not datetime",
        ),
        (
            models.BatchTaskGroup(value=[models.BatchTaskCreateContent(id="a", command_line="x"), "b"]),  # type: ignore[list-item]
            "value[1]",
            "must be a BatchTaskCreateContent, not str",
        ),
        (
            models.BatchJobCreateContent(
                id="j",
                pool_info=models.BatchPoolInfo(),
                uses_task_dependencies="yes",  # type: ignore[arg-type]
            ),
            "uses_task_dependencies",
            "must be a bool",
        ),
    ],
)
def test_values_of_the_wrong_type_are_refused_on_send(model: object, field: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        to_wire(model)
    assert info.value.field == field
    assert f"{field} {message}" in str(info.value)
    with pytest.raises(ValidationError):
        encoder_for(type(model))(model)


def test_values_of_the_right_type_are_sent() -> None:
    task = models.BatchTaskCreateContent(
        id="t",
        command_line="x",
        constraints=models.BatchTaskConstraints(
            max_task_retry_count=3, max_wall_clock_time=timedelta(hours=1)
        ),
        environment_settings=(models.EnvironmentSetting(name="a", value="b"),),  # type: ignore[arg-type]
    )
    assert to_wire(task)["constraints"] == {"maxTaskRetryCount": 3, "maxWallClockTime": "PT1H"}
    assert to_wire(task)["environmentSettings"] == [{"name": "a", "value": "b"}]
    now = datetime(2024, 7, 1, tzinfo=UTC)
    usage = models.BatchPoolUsageMetrics(
        pool_id="p", start_time=now, end_time=now, vm_size="v", total_core_hours=2
    )
    assert to_wire(usage)["totalCoreHours"] == 2
    assert to_wire(models.BatchJobDisableContent(disable_tasks="requeue")) == {"disableTasks": "requeue"}
