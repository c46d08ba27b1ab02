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

_CODE = re.compile(
    r"```|\bdef |\bclass |\bfunction\b|\breturn\b|=>|\bimport\b|\bSELECT\b|\bFROM\b|"
    r"\b(?:python|typescript|javascript|golang|rust|java|kotlin|sql|bash|regex|api|json)\b|"
    r"\b(?:bug|stack ?trace|traceback|exception|compile|refactor|pull request|diff)\b|[{};]\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_MATH = re.compile(
    r"\d\s*[-+*/^=]\s*\d|\b(?:solve|prove|proof|equation|integral|derivative|eigen\w*|"
    r"probability|matrix|theorem|compounded|how many ways|irrational)\b|[∑∫√π]",
    re.IGNORECASE,
)
_REASONING = re.compile(
    r"\b(?:step by step|analy[sz]e|evaluate|compare|justify|trade-?offs?|root cause|"
    r"reconstruct|estimate|derive|recommend|plan|strategy|pros and cons|why)\b",
    re.IGNORECASE,
)
_MULTI_STEP = re.compile(
    r"\b(?:first|then|next|finally|after that|phases?|steps?)\b|^\s*\d+[.)]\s",
    re.IGNORECASE | re.MULTILINE,
)
_CONSTRAINTS = re.compile(
    r"\b(?:must|exactly|at least|at most|without|only|keep|format|clause by clause|"
    r"with tests|thread-?safe|several threads|ties)\b",
    re.IGNORECASE,
)
_SIMPLE = re.compile(
    r"^\s*(?:hi|hello|hey|thanks?|thank you|ok|good (?:morning|evening))\b|"
    r"\b(?:how do i|where do i|what time|what is the (?:status|capital)|support hours|"
    r"reset my password|cancel|discount|invoices?)\b",
    re.IGNORECASE,
)


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


def prompt_features(text: str) -> PromptFeatures:
    letters = [c for c in text[:2000] if c.isalpha()]
    non_ascii = sum(not c.isascii() for c in letters) / len(letters) if letters else 0.0
    return PromptFeatures(
        tokens=math.ceil(len(text.split()) * TOKENS_PER_WORD),
        code=len(_CODE.findall(text)),
        math=len(_MATH.findall(text)),
        reasoning=len(_REASONING.findall(text)),
        multi_step=len(_MULTI_STEP.findall(text)),
        constraints=len(_CONSTRAINTS.findall(text)),
        simple=len(_SIMPLE.findall(text)),
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
