"""What every defence provides, and what the pipeline lends a text defence (the reference's rows, the backend's
divergence ranking, the rewriter)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from sublearn.util.settings import Settings

Channel = Literal["soft", "text"]
#: What a text defence's artifact key reads besides the defence's settings: the teacher's system prompt, the dtype
#: the models are read in, and how a rewriter samples and what filters its text.
KeyRead = Literal["system", "dtype", "rewriting"]


class DefenceSettings(Settings):
    """The settings of one defence kind (each kind's class adds its own fields)."""

    kind: str

    def label(self) -> str:
        """A short name with the setting that matters, e.g. ``divergence_mask 10%``."""
        return self.kind


@dataclass(frozen=True)
class SpecUse:
    """What a defence may check about the spec it is used in (the spec's validator fills it in)."""

    objective: str  # train.objective: soft_numbers or tokens
    number_carrier: bool  # the carrier writes numbers
    backend: str
    completion_only: bool  # train.completion_only
    reference: str


class TextTools(Protocol):
    """What the pipeline lends a defence of text rows."""

    def reference_rows(self) -> list[dict[str, Any]]:
        """The reference's own rows for the same carrier, generated and filtered alike."""
        ...

    def divergent_digits(self, rows: list[dict[str, Any]], fraction: float, seed: int, mask: bool
                         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The ``fraction`` of digit tokens where the teacher diverges most from the reference, masked from the
        loss or replaced by random digits (drawn with ``seed``)."""
        ...

    def rewrite(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every completion rewritten by the defence's rewriter, and the carrier's filter run again."""
        ...


class Defence:
    """One defence kind. ``channels``: the data it transforms (soft digit targets, text rows); ``cost``: what it
    costs beyond the undefended run, in words, for the docs; ``key_reads``: what its text artifact's key reads
    besides its settings; ``reads_reference_model``: whether a text defence runs the reference model itself."""

    kind: ClassVar[str]
    settings: ClassVar[type[DefenceSettings]]
    channels: ClassVar[tuple[Channel, ...]]
    cost: ClassVar[str]
    key_reads: ClassVar[tuple[KeyRead, ...]] = ()
    reads_reference_model: ClassVar[bool] = False
    #: Soft targets: whether it needs the reference's targets on the same rows.
    needs_reference_targets: ClassVar[bool] = False
    #: Text rows: whether it needs the reference's own rows.
    needs_reference_rows: ClassVar[bool] = False

    @property
    def active(self) -> bool:
        """Whether it changes anything (``none`` does not)."""
        return bool(self.channels)

    def problems(self, config: DefenceSettings, use: SpecUse) -> list[str]:
        """Why this defence cannot be used in that spec (empty: it can)."""
        channel: Channel = "soft" if use.objective == "soft_numbers" else "text"
        if self.active and channel not in self.channels:
            hint = "; threshold sampling on text data is carrier.top_p / carrier.temperature" \
                if channel == "text" else ""
            return [f"defence.kind {self.kind}: transforms {_CHANNEL_NAMES[self.channels[0]]}, not "
                    f"{_CHANNEL_NAMES[channel]} ({_CHANNEL_SPEC[channel]}){hint}"]
        return []

    def targets(self, config: DefenceSettings, teacher: Sequence[np.ndarray],
                reference: Sequence[np.ndarray] | None) -> list[np.ndarray]:
        """The defended soft targets (one array (digits, 10) per row; a masked position is an all-zero row)."""
        raise NotImplementedError(f"defence.kind {self.kind}: does not transform soft targets")

    def rows(self, config: DefenceSettings, rows: list[dict[str, Any]], tools: TextTools
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The defended text rows, and what the defence did."""
        raise NotImplementedError(f"defence.kind {self.kind}: does not transform text rows")


_CHANNEL_NAMES = {"soft": "soft digit targets", "text": "text data"}
_CHANNEL_SPEC = {"soft": "train.objective soft_numbers", "text": "train.objective tokens"}
