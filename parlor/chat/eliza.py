"""ELIZA, the built-in user anyone can chat with; her answers come from nltk's ELIZA rules."""
from __future__ import annotations

from nltk.chat.eliza import eliza_chatbot

USERNAME = "eliza"
FALLBACK = "Please tell me more."
THINK_S = 0.8  # a reply never comes at once: a person reads first ...
READ_S_PER_CHAR = 0.01  # ... longer for longer messages ...
MAX_THINK_S = 3.0  # ... but not so long that people leave


def reply(text: str) -> str:
    """What ELIZA answers to a message."""
    return (eliza_chatbot.respond(text) or FALLBACK).strip() or FALLBACK


def thinking_time(text: str, scale: float = 1.0) -> float:
    """A human-feeling delay before the reply, in seconds (scale 0 answers at once)."""
    return scale * min(MAX_THINK_S, THINK_S + READ_S_PER_CHAR * len(text))
