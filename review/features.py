"""Explainable features of a prompt's text, cheap enough to compute for every decision.

Each feature counts markers a person would recognise: code, math, reasoning and multi-step
wording, constraints, and the markers of simple requests (greetings, thanks, FAQ phrasing).
"""

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

# A token is about three quarters of an English word.
TOKENS_PER_WORD = 1.33

# Marker words, looked up in one pass over the prompt's words: a dictionary lookup per word is
# several times faster than a set of case-insensitive regular expressions per prompt.
MARKER_WORDS: dict[str, tuple[str, ...]] = {
    "code": (
        "def",
        "class",
        "function",
        "return",
        "import",
        "select",
        "from",
        "python",
        "typescript",
        "javascript",
        "golang",
        "rust",
        "java",
        "kotlin",
        "sql",
        "bash",
        "regex",
        "api",
        "json",
        "bug",
        "traceback",
        "exception",
        "compile",
        "refactor",
        "diff",
        "stacktrace",
        "keyerror",
    ),
    "math": (
        "solve",
        "prove",
        "proof",
        "equation",
        "integral",
        "derivative",
        "eigenvalues",
        "eigenvalue",
        "probability",
        "matrix",
        "theorem",
        "compounded",
        "irrational",
    ),
    "reasoning": (
        "analyze",
        "analyse",
        "evaluate",
        "compare",
        "justify",
        "tradeoff",
        "tradeoffs",
        "reconstruct",
        "estimate",
        "derive",
        "recommend",
        "plan",
        "strategy",
        "why",
    ),
    "multi_step": ("first", "then", "next", "finally", "phase", "phases", "step", "steps"),
    "constraints": ("must", "exactly", "without", "only", "keep", "format", "ties", "thread-safe"),
}
MARKER_PHRASES: dict[str, tuple[str, ...]] = {
    "code": ("```", "=>", "pull request", "stack trace"),
    "math": ("how many ways",),
    "reasoning": ("step by step", "root cause", "pros and cons", "trade-off"),
    "multi_step": ("after that",),
    "constraints": ("at least", "at most", "clause by clause", "with tests", "several threads"),
    "simple": (
        "how do i",
        "where do i",
        "what time",
        "what is the status",
        "what is the capital",
        "support hours",
        "reset my password",
        "thank you",
    ),
}
SIMPLE_OPENERS = frozenset({"hi", "hello", "hey", "thanks", "thank", "ok", "good"})
SIMPLE_WORDS = frozenset({"cancel", "discount", "invoice", "invoices"})
_WORD_KIND = {word: kind for kind, words in MARKER_WORDS.items() for word in words}
_WORDS = re.compile(r"[a-z][a-z'-]*")
_ARITHMETIC = re.compile(r"\d\s*[-+*/^=]\s*\d")
_NUMBERED_STEP = re.compile(r"^[ \t]*\d+[.)][ \t]", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    tokens: int
    code: int
    math: int
    reasoning: int
    multi_step: int
    constraints: int
    simple: int
    questions: int
    non_ascii: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Markers saturate long before this; long pasted context costs time and says nothing more.
SCANNED_CHARACTERS = 4000


def prompt_features(text: str) -> PromptFeatures:
    tokens = math.ceil(len(text.split()) * TOKENS_PER_WORD)
    text = text[:SCANNED_CHARACTERS]
    lowered = text.lower()
    counts = dict.fromkeys(("code", "math", "reasoning", "multi_step", "constraints", "simple"), 0)
    words = _WORDS.findall(lowered)
    for word in words:
        kind = _WORD_KIND.get(word)
        if kind is not None:
            counts[kind] += 1
        elif word in SIMPLE_WORDS:
            counts["simple"] += 1
    for kind, phrases in MARKER_PHRASES.items():
        counts[kind] += sum(lowered.count(phrase) for phrase in phrases)
    if words and words[0] in SIMPLE_OPENERS:
        counts["simple"] += 1
    counts["math"] += len(_ARITHMETIC.findall(text))
    counts["multi_step"] += len(_NUMBERED_STEP.findall(text))
    non_ascii = 0.0
    if not text.isascii():
        letters = [c for c in text if c.isalpha()]
        non_ascii = sum(not c.isascii() for c in letters) / len(letters) if letters else 0.0
    return PromptFeatures(
        tokens=tokens,
        code=counts["code"],
        math=counts["math"],
        reasoning=counts["reasoning"],
        multi_step=counts["multi_step"],
        constraints=counts["constraints"],
        simple=counts["simple"],
        questions=text.count("?"),
        non_ascii=round(non_ascii, 3),
    )


def text_difficulty(features: PromptFeatures) -> float:
    """Difficulty in [0, 1] from the text alone: a weighted, saturating sum of the markers."""

    def saturate(count: int, full: int) -> float:
        return min(count, full) / full

    score = (
        0.12
        + 0.22 * min(1.0, math.log1p(features.tokens) / math.log1p(1500))
        + 0.18 * saturate(features.code, 3)
        + 0.18 * saturate(features.math, 2)
        + 0.22 * saturate(features.reasoning, 3)
        + 0.08 * saturate(features.multi_step, 3)
        + 0.06 * saturate(features.constraints, 2)
        - 0.25 * saturate(features.simple, 1)
    )
    return max(0.0, min(1.0, score))
