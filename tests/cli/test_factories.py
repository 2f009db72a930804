"""Sweep specs, the cartesian product, templates and ID checks: pure decisions, tested with tables."""

from __future__ import annotations

import re

import pytest

from batchaio import ValidationError
from batchaio.cli import _factories as F


@pytest.mark.parametrize(
    ("text", "name", "values"),
    [
        ("i=0:250", "i", range(0, 250)),
        ("i=0:1000:10", "i", range(0, 1000, 10)),
        ("i=10:0:-2", "i", range(10, 0, -2)),
        ("i=-3:3", "i", range(-3, 3)),
        ("name=a,b,c", "name", ("a", "b", "c")),
        ("x=5", "x", ("5",)),
        ("path=/data:/more", "path", ("/data:/more",)),
        ("seed=1:2:x", "seed", ("1:2:x",)),
        (" i =0:2", "i", range(0, 2)),
    ],
)
def test_parameter_specs(text: str, name: str, values: object) -> None:
    parameter = F.parse_parameter(text)
    assert parameter.name == name
    assert parameter.values == values


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("i", "NAME=SPEC"),
        ("=1,2", "NAME=SPEC"),
        ("1x=1,2", "NAME=SPEC"),
        ("i=0:10:0", "step must not be 0"),
        ("i=5:5", "is empty"),
        ("i=5:0", "is empty"),
        ("name=a,,b", "empty value"),
        ("name=", "empty value"),
    ],
)
def test_bad_parameter_specs(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        F.parse_parameter(text)
    assert caught.value.field == "--param"


def test_cartesian_product_last_parameter_fastest() -> None:
    parameters = [F.parse_parameter("i=0:3"), F.parse_parameter("m=a,b")]
    assert F.sweep_size(parameters) == 6
    assert list(F.sweep_values(parameters)) == [
        {"i": 0, "m": "a"},
        {"i": 0, "m": "b"},
        {"i": 1, "m": "a"},
        {"i": 1, "m": "b"},
        {"i": 2, "m": "a"},
        {"i": 2, "m": "b"},
    ]


def test_size_of_a_large_sweep_is_computed_without_expanding_it() -> None:
    parameters = [F.parse_parameter("i=0:1000000"), F.parse_parameter("j=0:1000")]
    assert F.sweep_size(parameters) == 1_000_000_000


@pytest.mark.parametrize(
    ("texts", "message"),
    [([], "at least one"), (["i=0:2", "i=a,b"], "given twice")],
)
def test_bad_parameter_sets(texts: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        F.check_parameters([F.parse_parameter(text) for text in texts])


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("run-{i}", {"i": 3}, "run-3"),
        ("run-{i:04d}-{m}", {"i": 3, "m": "x"}, "run-0003-x"),
        ("awk '{{print $1}}' {m}", {"m": "f"}, "awk '{print $1}' f"),
        ("no placeholders", {"i": 1}, "no placeholders"),
        ("{m:>3}", {"m": "a"}, "  a"),
    ],
)
def test_templates_render(template: str, values: dict[str, object], expected: str) -> None:
    assert F.Template(template, list(values), option="--command").render(values) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("echo ${HOME}", "unknown placeholder {HOME}"),
        ("{i.real}", "unknown placeholder {i.real}"),
        ("{i[0]}", "unknown placeholder {i[0]}"),
        ("{i!r}", "may only have a format spec"),
        ("{i:{m}}", "may only have a format spec"),
        ("{", "Single '{'"),
        ("}", "Single '}'"),
        ("{}", "unknown placeholder {}"),
    ],
)
def test_bad_templates(template: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as caught:
        F.Template(template, ["i", "m"], option="--command")
    assert caught.value.field == "--command"


def test_a_format_spec_the_value_cannot_take_is_refused_before_sending() -> None:
    template = F.TaskTemplate.build(id="t-{i}", command_line="run {m:05d}", allowed=["i", "m"])
    values = [F.parse_parameter("i=0:2"), F.parse_parameter("m=a,b")]
    with pytest.raises(ValidationError, match="--command"):
        F.check_ids(template, lambda: F.sweep_values(values))


def test_tasks_carry_resource_files_and_environment() -> None:
    template = F.TaskTemplate.build(
        id="t-{i}",
        command_line="run {i}",
        allowed=["i"],
        resource_files=["in/{i}.csv=https://store/data/{i}.csv?sig=x"],
        environment=["SEED={i}", "MODE=fast"],
    )
    task = template.task({"i": 7})
    assert task.id == "t-7"
    assert task.command_line == "run 7"
    assert [(f.file_path, f.http_url) for f in task.resource_files or []] == [
        ("in/7.csv", "https://store/data/7.csv?sig=x")
    ]
    assert [(e.name, e.value) for e in task.environment_settings or []] == [("SEED", "7"), ("MODE", "fast")]


@pytest.mark.parametrize(
    ("option", "text"), [("--resource-file", "no-equals-sign"), ("--env", "=value"), ("--env", "NAME")]
)
def test_bad_pairs(option: str, text: str) -> None:
    kwargs = {"resource_files": [text]} if option == "--resource-file" else {"environment": [text]}
    with pytest.raises(ValidationError, match=option):
        F.TaskTemplate.build(id="t", command_line="c", allowed=[], **kwargs)  # type: ignore[arg-type]


def _ids(id_template: str, *specs: str) -> int:
    parameters = [F.parse_parameter(spec) for spec in specs]
    template = F.TaskTemplate.build(id=id_template, command_line="x", allowed=[p.name for p in parameters])
    return F.check_ids(template, lambda: F.sweep_values(parameters))


@pytest.mark.parametrize(
    ("id_template", "specs", "problem"),
    [
        ("t-{m}", ("m=a,b c",), "'t-b c' for m='b c'"),
        ("t-{m}", ("m=a,x.y",), "task IDs are 1-64"),
        ("t-{i:070d}", ("i=0:2",), "task IDs are 1-64"),
        ("t", ("i=0:2",), "gives 't' twice: for i=0 and for i=1"),
        ("t-{m}", ("i=0:2", "m=a"), "twice: for i=0, m='a' and for i=1, m='a'"),
        ("t-{m}", ("m=a,A",), "twice: for m='a' and for m='A' (IDs are compared without case)"),
        ("t{a}{b}", ("a=1,11", "b=1,11"), "gives 't111' twice: for a='1', b='11' and for a='11', b='1'"),
    ],
)
def test_ids_are_checked_before_anything_is_sent(
    id_template: str, specs: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _ids(id_template, *specs)
    assert problem in str(caught.value)
    assert caught.value.field == "--id"


def test_valid_ids_are_counted() -> None:
    assert _ids("fit-{m}-{i:03d}", "i=0:250", "m=a,b,c") == 750


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("data/a.csv", {"name": "a.csv", "stem": "a", "safe_name": "a_csv"}),
        (
            "https://store/c/x y.tar.gz?sig=1",
            {"name": "x y.tar.gz?sig=1", "stem": "x y.tar", "safe_name": "x_y_tar_gz_sig_1"},
        ),
        ("/mnt/share/logs/", {"name": "logs", "stem": "logs", "safe_name": "logs"}),
        (".bashrc", {"name": ".bashrc", "stem": ".bashrc", "safe_name": "_bashrc"}),
        ("plain", {"name": "plain", "stem": "plain", "safe_name": "plain"}),
    ],
)
def test_file_placeholders(file: str, expected: dict[str, str]) -> None:
    (values,) = F.file_values([file])
    assert values == {"file": file, "index": 0, **expected}


def test_per_file_ids_that_collide_name_both_files() -> None:
    names = ["in/a b.txt", "in/a_b.txt"]
    template = F.TaskTemplate.build(id="{safe_name}", command_line="x {file}", allowed=F.FILE_PLACEHOLDERS)
    with pytest.raises(ValidationError, match=re.escape("'a_b_txt' twice: for file='in/a b.txt'")):
        F.check_ids(template, lambda: F.file_values(names))
