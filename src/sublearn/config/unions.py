"""Unions of settings classes discriminated by their ``kind`` field, with a default kind when it is left out."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, Discriminator, Tag


def kind_union(*members: type[BaseModel], default: str) -> Any:
    """``Annotated[A | B | ..., Discriminator]`` choosing the member by ``kind`` (``default`` when absent)."""

    def pick(value: Any) -> str | None:
        if isinstance(value, dict):
            return value.get("kind", default)
        return getattr(value, "kind", None)

    tagged = tuple(Annotated[m, Tag(m.model_fields["kind"].default)] for m in members)
    return Annotated[Union[tagged], Discriminator(pick)]  # noqa: UP007 (a runtime tuple of members)


def union_members(annotation: Any) -> list[type[BaseModel]]:
    """The settings classes an annotation can hold (one for a plain section, several for a kind union)."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += union_members(arg)
    return out


def member_for(annotation: Any, value: Any) -> type[BaseModel] | None:
    """The member of ``annotation`` that a raw ``value`` (a dict from YAML) would be validated as."""
    members = union_members(annotation)
    if len(members) <= 1:
        return members[0] if members else None
    kind = value.get("kind") if isinstance(value, dict) else None
    for member in members:
        if kind is None or member.model_fields["kind"].default == kind:
            return member  # the first member is the default kind
    return None
