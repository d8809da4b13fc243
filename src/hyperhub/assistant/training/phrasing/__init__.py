"""The phrasing grammar: sentences about one space, each with the compact plan it means.

`Phraser(space, rng).sample()` picks a kind of request and fills it from the space's own
devices, areas and floors, in English, Chinese or both mixed, with the many ways people say
it: synonyms, word orders, politeness and fillers, typos, relative changes, several
commands in one sentence, questions, risky actions, and things the space does not have
(the plan is then `none`). The plans follow the conventions of docs/assistant.md ("a bit
brighter" = +10 points, "warmer" = +1 °C, "the lights" = the speaker's room, else all of
them, opening a cover = position 100, unlocking = `locked=false` …) and the executor, not
the plan, asks for confirmation of risky steps, so a risky request has an ordinary plan.

Nothing here comes from an evaluation set: the words are the vocabulary's (types,
properties, actions, values) and everyday speech.
"""

from __future__ import annotations

from hyperhub.assistant.training.phrasing.actions import ActionPhrases
from hyperhub.assistant.training.phrasing.base import Sample
from hyperhub.assistant.training.phrasing.control import ControlPhrases
from hyperhub.assistant.training.phrasing.everyday import EverydayPhrases
from hyperhub.assistant.training.phrasing.groups import GroupPhrases
from hyperhub.assistant.training.phrasing.nothing import NothingPhrases
from hyperhub.assistant.training.phrasing.questions import QuestionPhrases
from hyperhub.assistant.training.phrasing.words import (
    ABSENT,
    FOCUS_KINDS,
    GROUP_KINDS,
    KINDS,
    MIXES,
)

__all__ = ["ABSENT", "FOCUS_KINDS", "GROUP_KINDS", "KINDS", "MIXES", "Phraser", "Sample"]


class Phraser(
    ControlPhrases,
    ActionPhrases,
    QuestionPhrases,
    GroupPhrases,
    NothingPhrases,
    EverydayPhrases,
):
    """Sentences with their plans for one space; see the module docstring."""
