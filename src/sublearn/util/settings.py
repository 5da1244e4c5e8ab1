"""The base of every settings class (spec sections, defences), and how settings enter artifact keys."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

#: The largest seed (numpy and torch take seeds below 2^32).
SEED_LIMIT = 2**32
#: A seed: an integer (never a boolean or a float) in [0, 2^32).
Seed = Annotated[StrictInt, Field(ge=0, lt=SEED_LIMIT)]
#: A name that must say something: at least one character that is not a space.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Settings(BaseModel):
    """A settings section: unknown fields are refused (a typo is an error, not a silent default), and so is NaN or
    ±infinity in any number (a NaN learning rate would train a NaN model and store it as finished)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def key_fields(settings: BaseModel) -> dict[str, Any]:
    """The settings as they enter artifact keys: every field that differs from its default (nested sections
    likewise, relative to their own class defaults), and ``kind`` always.

    Leaving defaults out means a setting added later does not change the keys of artifacts made before it
    existed, as long as it stays at its default; a changed default needs a stage-version bump.
    """
    dumped = settings.model_dump(mode="json")
    out: dict[str, Any] = {}
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if name != "kind" and value == field.get_default(call_default_factory=True):
            continue
        out[name] = key_fields(value) if isinstance(value, BaseModel) else dumped[name]
    return out
