"""Training data for the catalog-tuned local model (issue #8).

- `spaces.random_space(rng)`: a random valid space (EN / ZH names, areas, floors, every type).
- `phrasing.Phraser`: the phrasing grammar, sentences with the compact plan they mean.
- `hyperhub.assistant.llm_tuned.tuned_prompt(space, text, area)`: the short prompt the tuned
  model reads, in training and at inference; the model writes `" " + plan + "\\n"` after it.
- `data.generate(count, seed)`: checked `TrainExample`s; `write_jsonl`, `read_jsonl`, `stats`.
- `exclude.default_exclusions()`: the evaluation sets' sentences, device ids and names, which
  generated data never holds.

Nothing here needs torch; the training itself is elsewhere (the `train` extra).
"""

from hyperhub.assistant.llm_tuned import candidates, estimate_tokens, tuned_prompt
from hyperhub.assistant.training.data import (
    TrainExample,
    check_answer,
    completion,
    generate,
    generate_pairs,
    generate_report,
    normalise_text,
    read_jsonl,
    stats,
    write_jsonl,
)
from hyperhub.assistant.training.exclude import (
    Exclusions,
    default_exclusions,
    load_exclusions,
)
from hyperhub.assistant.training.spaces import random_space

__all__ = [
    "Exclusions",
    "TrainExample",
    "candidates",
    "check_answer",
    "completion",
    "default_exclusions",
    "estimate_tokens",
    "generate",
    "generate_pairs",
    "generate_report",
    "load_exclusions",
    "normalise_text",
    "random_space",
    "read_jsonl",
    "stats",
    "tuned_prompt",
    "write_jsonl",
]
