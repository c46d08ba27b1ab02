"""Chat message content as logs carry it: a string, or a list of typed parts."""

from typing import Any


def content_text(content: Any) -> str | None:
    """The text of a message's content: the string itself, or its text parts joined. Parts
    name their text ``text`` (OpenAI, LiteLLM) or ``content`` (OpenTelemetry GenAI)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            str(part.get("text") or part.get("content") or "")
            for part in content
            if isinstance(part, dict) and part.get("type", "text") == "text"
        ]
        return "\n".join(text for text in texts if text) or None
    return None
