"""Task factories: a parametric sweep and one task per file, as pure functions.

A sweep's parameters are ``NAME=SPEC`` options: ``i=0:250`` is 0..249, ``i=0:1000:10`` steps by 10,
``name=a,b,c`` is a list of strings (one value with neither ``:`` nor ``,`` is a list of one). Tasks are made
for the cartesian product, the last parameter varying fastest. Templates use ``{name}`` placeholders with
Python's format syntax (``{i:05d}``); ``{{`` and ``}}`` stand for literal braces.

Everything here is checked before anything is sent: specs, templates (every placeholder names a parameter,
every template renders), and every task ID (valid, unique without regard to case).
"""

from __future__ import annotations

import itertools
import math
import re
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from batchaio._ids import is_entity_id
from batchaio.errors import ValidationError
from batchaio.models import BatchTaskCreateContent, EnvironmentSetting, ResourceFile

__all__ = [
    "Parameter",
    "TaskTemplate",
    "Template",
    "check_ids",
    "check_parameters",
    "file_values",
    "parse_parameter",
    "sweep_size",
    "sweep_values",
]

Values = Mapping[str, object]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INTEGER = re.compile(r"[+-]?\d+\Z")
_UNSAFE_ID_CHARACTER = re.compile(r"[^A-Za-z0-9_-]")
FILE_PLACEHOLDERS = ("file", "name", "stem", "safe_name", "index")
"""What a per-file template can name: the file as given, its last path segment, that segment without its
last suffix, the segment with every character not allowed in an ID replaced by ``_``, and its position."""


@dataclass(frozen=True)
class Parameter:
    """One sweep parameter: its name and its values (a ``range`` of ints, or a tuple of strings)."""

    name: str
    values: range | tuple[str, ...]


def parse_parameter(text: str) -> Parameter:
    """Parse ``NAME=SPEC`` (see the module docstring); raise :class:`ValidationError` naming the rule."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise ValidationError(
            f"--param {text!r}: write NAME=SPEC with NAME a letter or '_' followed by letters, digits or '_'",
            field="--param",
        )
    parts = spec.split(":")
    if 2 <= len(parts) <= 3 and all(_INTEGER.match(part.strip()) for part in parts):
        start, stop, *rest = (int(part) for part in parts)
        step = rest[0] if rest else 1
        if step == 0:
            raise ValidationError(f"--param {text!r}: the step must not be 0", field="--param")
        values: range | tuple[str, ...] = range(start, stop, step)
        if not values:
            raise ValidationError(
                f"--param {text!r}: the range {spec} is empty (START:STOP excludes STOP)", field="--param"
            )
        return Parameter(name, values)
    items = tuple(spec.split(","))
    if any(item == "" for item in items):
        raise ValidationError(f"--param {text!r}: a list has an empty value", field="--param")
    return Parameter(name, items)


def check_parameters(parameters: Sequence[Parameter]) -> None:
    """Refuse a sweep with no parameter or a parameter given twice."""
    if not parameters:
        raise ValidationError("a sweep needs at least one --param NAME=SPEC", field="--param")
    seen: set[str] = set()
    for parameter in parameters:
        if parameter.name in seen:
            raise ValidationError(f"--param {parameter.name} is given twice", field="--param")
        seen.add(parameter.name)


def sweep_size(parameters: Sequence[Parameter]) -> int:
    """How many tasks the sweep makes: the product of the parameters' lengths."""
    return math.prod(len(parameter.values) for parameter in parameters)


def sweep_values(parameters: Sequence[Parameter]) -> Iterator[dict[str, object]]:
    """The values of each task of the sweep, lazily, in order (the last parameter varies fastest)."""
    names = [parameter.name for parameter in parameters]
    for combination in itertools.product(*(parameter.values for parameter in parameters)):
        yield dict(zip(names, combination, strict=True))


def file_values(files: Sequence[str]) -> Iterator[dict[str, object]]:
    """The placeholder values of each file of a per-file run (see :data:`FILE_PLACEHOLDERS`)."""
    for index, file in enumerate(files):
        name = PurePosixPath(file.rstrip("/")).name or file
        stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
        yield {
            "file": file,
            "name": name,
            "stem": stem,
            "safe_name": _UNSAFE_ID_CHARACTER.sub("_", name),
            "index": index,
        }


class Template:
    """A string with ``{name}`` placeholders, checked against the names it may use when it is made."""

    def __init__(self, text: str, allowed: Sequence[str], *, option: str) -> None:
        self.text = text
        self.option = option
        self.names = _placeholders(text, allowed, option)

    def render(self, values: Values) -> str:
        """The text with each placeholder replaced; a format spec the value cannot take raises
        :class:`ValidationError` naming the option."""
        try:
            return self.text.format_map(values)
        except (ValueError, TypeError) as exc:
            raise ValidationError(f"{self.option} {self.text!r}: {exc}", field=self.option) from None


def _placeholders(text: str, allowed: Sequence[str], option: str) -> frozenset[str]:
    names: set[str] = set()
    hint = (
        f"(placeholders: {', '.join('{' + name + '}' for name in allowed)}; write {{{{ and }}}} for braces)"
    )
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValidationError(f"{option} {text!r}: {exc} {hint}", field=option) from None
    for _, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in allowed:
            raise ValidationError(
                f"{option} {text!r}: unknown placeholder {{{field_name}}} {hint}", field=option
            )
        if conversion is not None or (spec and "{" in spec):
            raise ValidationError(
                f"{option} {text!r}: {{{field_name}}} may only have a format spec such as "
                f"{{{field_name}:05d}}",
                field=option,
            )
        names.add(field_name)
    return frozenset(names)


@dataclass(frozen=True)
class TaskTemplate:
    """How to make each task of a factory: templates of its ID, command line, resource files
    (``FILE_PATH=URL``) and environment settings (``NAME=VALUE``)."""

    id: Template
    command_line: Template
    resource_files: tuple[tuple[Template, Template], ...] = ()
    environment: tuple[tuple[Template, Template], ...] = ()

    @classmethod
    def build(
        cls,
        *,
        id: str,
        command_line: str,
        allowed: Sequence[str],
        resource_files: Sequence[str] = (),
        environment: Sequence[str] = (),
    ) -> TaskTemplate:
        """Compile the templates; raise :class:`ValidationError` naming the option at fault."""
        return cls(
            id=Template(id, allowed, option="--id"),
            command_line=Template(command_line, allowed, option="--command"),
            resource_files=tuple(_pair(text, allowed, "--resource-file") for text in resource_files),
            environment=tuple(_pair(text, allowed, "--env") for text in environment),
        )

    def task(self, values: Values) -> BatchTaskCreateContent:
        """The task for one set of placeholder values."""
        return BatchTaskCreateContent(
            id=self.id.render(values),
            command_line=self.command_line.render(values),
            resource_files=[
                ResourceFile(file_path=path.render(values), http_url=url.render(values))
                for path, url in self.resource_files
            ]
            or None,
            environment_settings=[
                EnvironmentSetting(name=name.render(values), value=value.render(values))
                for name, value in self.environment
            ]
            or None,
        )


def _pair(text: str, allowed: Sequence[str], option: str) -> tuple[Template, Template]:
    left, sep, right = text.partition("=")
    if not sep or not left:
        what = "FILE_PATH=URL" if option == "--resource-file" else "NAME=VALUE"
        raise ValidationError(f"{option} {text!r}: write {what}", field=option)
    return Template(left, allowed, option=option), Template(right, allowed, option=option)


def check_ids(template: TaskTemplate, all_values: Callable[[], Iterator[Values]]) -> int:
    """Render every task ID and the first task in full; raise :class:`ValidationError` at the first ID that
    is invalid or repeats another (IDs are compared without case, as the service does). Returns the count.

    ``all_values`` gives the tasks' values afresh each call (it is called again to name the first of two
    tasks with one ID). Holds one folded ID per task: a million-task sweep needs some tens of MB here.
    """
    seen: dict[str, int] = {}
    count = 0
    for values in all_values():
        if count == 0:
            template.task(values)  # every template renders with these values (format specs fit)
        task_id = template.id.render(values)
        if not is_entity_id(task_id):
            raise ValidationError(
                f"--id {template.id.text!r} gives {task_id!r} for {_describe(values)}: task IDs are 1-64 "
                "letters, digits, '-' and '_'",
                field="--id",
            )
        earlier = seen.setdefault(task_id.casefold(), count)
        if earlier != count:
            first = next(itertools.islice(all_values(), earlier, None))
            raise ValidationError(
                f"--id {template.id.text!r} gives {task_id!r} twice: for {_describe(first)} and for "
                f"{_describe(values)} (IDs are compared without case)",
                field="--id",
            )
        count += 1
    return count


def _describe(values: Values) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in values.items())
