"""Constrained decoding: the compact plan format, limited to what the catalog holds.

The language is a small automaton over characters built from the space:

    plan  := [" "] ( "none" | item (";" item)* ) "\\n"
    item  := device "." ( prop "=" value | prop ("+=" | "-=") number
                        | action "(" [arg "=" value ("," arg "=" value)*] ")" | prop "?" )

where `device`, `prop`, `action` and enum values are exactly the catalog's strings and each
value has the form its spec asks for (true/false, an enum value, a number, "#rrggbb", text).

At each decoding step `TokenConstraint.allowed` walks the automaton and the model's vocabulary
together: it extends a string one allowed character at a time and keeps going only while some
token starts with that string (a binary search in the sorted strings of the tokens made only
of the grammar's characters). So a step costs about as many look-ups as there are allowed
strings up to one token long — a few hundred, 3–10 ms in Python — instead of a pass over the
whole 262k vocabulary, which is what makes a GBNF grammar slow.
Free text (string arguments) is the one open slot; it uses a precomputed mask of the tokens
that hold no separator character.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from hyperhub.space.model import Space
from hyperhub.spec import ValueSpec

SEPARATORS = frozenset(";),=\n")  # never inside free text
TEXT_MAX = 60  # characters of free text in one value
NUMBER_MAX = 7  # characters of a number, sign and point included
HEX = "0123456789abcdef"


@dataclass
class Node:
    """One node of the automaton. `kind` is lit (one of `options`), num, text, hex or end."""

    kind: Literal["lit", "num", "text", "hex", "end"]
    options: dict[str, int] = field(default_factory=dict)  # lit: key → next node
    next: int = -1  # num / text / hex: the node after the value
    decimals: bool = False  # num: may have a decimal point
    signed: bool = True  # num: may start with "-"


Config = tuple[int, str]  # (node, characters typed inside it)


class PlanGrammar:
    """The automaton of plans for one space."""

    def __init__(self, space: Space, devices: Iterable[str] | None = None) -> None:
        """The plans over `space`'s devices, or only over `devices` (ids of the space) when
        given: the tuned engine lets the model name only the devices its prompt shows."""
        only = None if devices is None else set(devices)
        self.nodes: list[Node] = []
        self.end = self._add(Node("end"))
        self.sep = self._add(Node("lit"))
        first = self._add(Node("lit"))
        self.item = self._add(Node("lit"))
        # a plan ends at a newline; the examples end with a blank line, so take that too
        self.nodes[self.sep].options = {";": self.item, "\n": self.end, "\n\n": self.end}
        self._values: dict[tuple, int] = {}
        for dev in space.devices.values():
            if only is not None and dev.id not in only:
                continue
            node = self._add(Node("lit"))
            self.nodes[self.item].options[f"{dev.id}."] = node
            opts = self.nodes[node].options
            exposed = [p for p in dev.dtype.properties if p in dev.properties or not dev.properties]
            for prop in exposed:
                spec = dev.dtype.properties[prop]
                opts[f"{prop}?"] = self.sep
                if not spec.writable or spec.kind == "location":
                    continue
                opts[f"{prop}="] = self._value(spec, self.sep)
                if spec.kind in ("int", "float"):
                    delta = self._add(Node("num", next=self.sep, decimals=True, signed=False))
                    opts[f"{prop}+="] = delta
                    opts[f"{prop}-="] = delta
            for action, aspec in dev.dtype.actions.items():
                args = [a for a in aspec.args if a.required]
                nxt = self._add(Node("lit", options={")": self.sep}))
                for i, arg in reversed(list(enumerate(args))):
                    value = self._value(arg, nxt)
                    key = ("," if i else "") + f"{arg.name}="
                    nxt = self._add(Node("lit", options={key: value}))
                opts[f"{action}("] = nxt
        items = dict(self.nodes[self.item].options)
        items["none"] = self._add(Node("lit", options={"\n": self.end, "\n\n": self.end}))
        self.nodes[first].options = {**items, **{" " + k: v for k, v in items.items()}}
        self.start = first

    def _add(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def _value(self, spec: ValueSpec, nxt: int) -> int:
        """The node that reads one value of `spec`, then goes to `nxt`."""
        key = (spec.kind, spec.values, nxt)
        if key in self._values:
            return self._values[key]
        if spec.kind == "bool":
            node = Node("lit", options={"true": nxt, "false": nxt})
        elif spec.kind == "enum":
            node = Node("lit", options={v: nxt for v in spec.values or ()})
        elif spec.kind in ("int", "float"):
            node = Node("num", next=nxt, decimals=spec.kind == "float")
        elif spec.kind == "color":
            node = Node("lit", options={"#": self._add(Node("hex", next=nxt))})
        else:
            node = Node("text", next=nxt)
        self._values[key] = self._add(node)
        return self._values[key]

    def alphabet(self) -> frozenset[str]:
        """Every character the grammar can produce outside free text."""
        chars = set("0123456789-." + HEX)
        for node in self.nodes:
            for key in node.options:
                chars.update(key)
        return frozenset(chars)

    # -- stepping ------------------------------------------------------------------------

    def initial(self) -> frozenset[Config]:
        return frozenset({(self.start, "")})

    def accepted(self, configs: Iterable[Config]) -> bool:
        return any(self.nodes[n].kind == "end" for n, _ in configs)

    def _complete(self, node: Node, typed: str) -> bool:
        if node.kind == "num":
            return any(c.isdigit() for c in typed) and not typed.endswith(".")
        if node.kind == "text":
            return bool(typed.strip())
        if node.kind == "hex":
            return len(typed) == 6
        return False

    def chars(self, configs: Iterable[Config]) -> tuple[set[str], bool]:
        """The characters that may come next, and whether free text may come next."""
        out: set[str] = set()
        text = False
        for n, typed in configs:
            node = self.nodes[n]
            if node.kind == "lit":
                k = len(typed)
                out.update(key[k] for key in node.options if len(key) > k and key.startswith(typed))
            elif node.kind == "num":
                if len(typed) < NUMBER_MAX:
                    out.update("0123456789")
                    if node.signed and not typed:
                        out.add("-")
                    if node.decimals and "." not in typed and any(c.isdigit() for c in typed):
                        out.add(".")
            elif node.kind == "hex":
                if len(typed) < 6:
                    out.update(HEX)
            elif node.kind == "text" and len(typed) < TEXT_MAX:
                text = True
            if node.kind in ("num", "text", "hex") and self._complete(node, typed):
                sub_chars, sub_text = self.chars({(node.next, "")})
                out |= sub_chars
                text = text or sub_text
        return out, text

    def step(self, configs: Iterable[Config], ch: str) -> frozenset[Config]:
        """The configurations after reading `ch` (empty: `ch` is not allowed here)."""
        out: set[Config] = set()
        for n, typed in configs:
            node = self.nodes[n]
            if node.kind == "lit":
                t2 = typed + ch
                for key, nxt in node.options.items():
                    if key == t2:
                        out.add((nxt, ""))
                    elif key.startswith(t2):
                        out.add((n, t2))
            elif node.kind in ("num", "text", "hex"):
                if self._accepts(node, typed, ch):
                    out.add((n, typed + ch))
                if self._complete(node, typed):
                    out |= self.step({(node.next, "")}, ch)
        return frozenset(out)

    def _accepts(self, node: Node, typed: str, ch: str) -> bool:
        if node.kind == "num":
            if len(typed) >= NUMBER_MAX:
                return False
            if ch.isdigit() and ch.isascii():
                return True
            if ch == "-":
                return node.signed and not typed
            return ch == "." and node.decimals and "." not in typed and typed[-1:].isdigit()
        if node.kind == "hex":
            return len(typed) < 6 and ch in HEX
        return len(typed) < TEXT_MAX and ch not in SEPARATORS and ch.isprintable()

    def feed(self, configs: frozenset[Config], text: str) -> frozenset[Config]:
        for ch in text:
            configs = self.step(configs, ch)
            if not configs:
                break
        return configs


class TokenConstraint:
    """Which vocabulary tokens keep the output inside the grammar, step by step."""

    def __init__(self, grammar: PlanGrammar, pieces: Sequence[str | None]) -> None:
        """`pieces[i]` is the text of token i (None for special or partial-UTF-8 tokens)."""
        self.grammar = grammar
        self.pieces = pieces
        # Outside free text only these characters can occur: index just the tokens made of
        # them (a few thousand of the 262k), which keeps building and searching cheap.
        alphabet = grammar.alphabet()
        by_text: dict[str, list[int]] = {}
        for i, piece in enumerate(pieces):
            if piece and alphabet.issuperset(piece):
                by_text.setdefault(piece, []).append(i)
        self._by_text = by_text
        self._sorted = sorted(by_text)
        self._text: tuple[np.ndarray, np.ndarray] | None = None  # built when first needed

    def sharing(self, grammar: PlanGrammar) -> TokenConstraint:
        """A constraint for `grammar` that reuses this one's token index (which must cover
        `grammar`'s alphabet: a grammar over some of the same space's devices does)."""
        if not grammar.alphabet() <= self.grammar.alphabet():
            raise ValueError("the grammar uses characters the token index does not hold")
        self._text_tokens()  # built once here, then shared
        other = object.__new__(TokenConstraint)
        other.__dict__.update(self.__dict__)
        other.grammar = grammar
        return other

    def _text_tokens(self) -> tuple[np.ndarray, np.ndarray]:
        """The tokens free text may use (no separator, printable) and their lengths."""
        if self._text is None:
            ids = [
                i
                for i, p in enumerate(self.pieces)
                if p and p.isprintable() and SEPARATORS.isdisjoint(p)
            ]
            lens = [len(self.pieces[i] or "") for i in ids]
            self._text = np.array(ids, dtype=np.int64), np.array(lens, dtype=np.int64)
        return self._text

    def _is_token_prefix(self, s: str) -> bool:
        i = bisect.bisect_left(self._sorted, s)
        return i < len(self._sorted) and self._sorted[i].startswith(s)

    def allowed(self, configs: frozenset[Config]) -> np.ndarray:
        """Ids of the tokens whose whole text the grammar accepts from `configs`."""
        ids: list[int] = []
        text_open = False
        stack: list[tuple[str, frozenset[Config]]] = [("", configs)]
        while stack:
            s, cfgs = stack.pop()
            chars, text = self.grammar.chars(cfgs)
            text_open = text_open or (text and not s)  # text only from a token's start
            for ch in chars:
                s2 = s + ch
                if not self._is_token_prefix(s2):
                    continue
                nxt = self.grammar.step(cfgs, ch)
                if not nxt:
                    continue
                ids.extend(self._by_text.get(s2, ()))
                stack.append((s2, nxt))
        out = np.array(ids, dtype=np.int64)
        if text_open:
            # Free text takes any separator-free token that still fits in its length.
            typed = max(
                (len(t) for n, t in configs if self.grammar.nodes[n].kind == "text"), default=0
            )
            text_ids, text_lens = self._text_tokens()
            fits = text_ids[text_lens <= TEXT_MAX - typed]
            out = np.unique(np.concatenate([out, fits]))
        return out
