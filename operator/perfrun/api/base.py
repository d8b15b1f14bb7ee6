"""The base every API model shares: camelCase on the wire, unknown fields refused, and
cross-field rules declared once so the CRD's CEL and the offline validator cannot drift."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class Rule:
    """One cross-field rule, written twice in two languages but declared in one place.

    ``cel`` becomes an ``x-kubernetes-validations`` entry of the model's schema, so the API
    server refuses the object at admission; ``check`` is the same rule in Python, run by
    ``perfrun validate`` and by the operator. ``field_path`` (relative to the model, in CEL's
    ``.a.b`` form) tells both where the problem is. A rule whose ``check`` is ``None`` is a
    transition rule (it needs ``oldSelf``) and is only enforced by the API server.
    """

    cel: str
    message: str
    check: Callable[[Any], bool] | None
    field_path: str | None = None
    reason: str | None = None

    def to_crd(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.cel, "message": self.message}
        if self.field_path:
            out["fieldPath"] = self.field_path
        if self.reason:
            out["reason"] = self.reason
        return out


def _add_rules_to_schema(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    # Empty lists and maps are defaults the API server must apply too: CEL rules read
    # `self.components` and fail with "no such key" when it is absent.
    for name, field in cls.model_fields.items():
        prop = schema.get("properties", {}).get(field.alias or name)
        if prop is not None and field.default_factory in (list, dict):
            prop.setdefault("default", [] if field.default_factory is list else {})
    rules: tuple[Rule, ...] = getattr(cls, "__rules__", ())
    if rules:
        schema["x-kubernetes-validations"] = [r.to_crd() for r in rules]


class ApiModel(BaseModel):
    """Base of every spec and status model."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=True,
        json_schema_extra=_add_rules_to_schema,
    )

    __rules__: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> ApiModel:
        _check_list_map_keys(self)
        for rule in type(self).__rules__:
            if rule.check is not None and not rule.check(self):
                raise PydanticCustomError(
                    "perfrun_rule",
                    "{message}",
                    {"message": rule.message, "field_path": rule.field_path or ""},
                )
        return self

    def to_wire(self) -> dict[str, Any]:
        """The camelCase dict a user would write, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _check_list_map_keys(model: BaseModel) -> None:
    """Python's side of ``x-kubernetes-list-type: map``: keys must be unique in the list."""
    for name, field in type(model).model_fields.items():
        extra = field.json_schema_extra
        if not isinstance(extra, dict) or extra.get("x-kubernetes-list-type") != "map":
            continue
        keys = extra.get("x-kubernetes-list-map-keys")
        if not isinstance(keys, list):
            continue
        seen: set[tuple[object, ...]] = set()
        for item in getattr(model, name) or ():
            key = tuple(getattr(item, str(k)) for k in keys)
            if key in seen:
                shown = ", ".join(repr(k) for k in key)
                raise PydanticCustomError(
                    "perfrun_rule",
                    "{message}",
                    {
                        "message": f"{shown} appears more than once; names must be unique",
                        "field_path": f".{field.alias or name}",
                    },
                )
            seen.add(key)


def exactly_one(*values: object) -> bool:
    return sum(v is not None for v in values) == 1


def unique(names: list[str]) -> bool:
    return len(names) == len(set(names))
