"""Module docstrings as ``--help`` text: the reStructuredText markup turned into plain text.

The sub-commands' docstrings are written for the API pages (roles such as ``:func:`` before a
name in backticks, double backticks, ``::`` literal blocks); :func:`plain_text` keeps their words and their examples'
layout and drops the markup, so ``panda-viz render --help`` reads as text in a terminal.
"""

from __future__ import annotations

import re

__all__ = ["RST_MARKUP", "plain_text"]

#: What :func:`plain_text` never leaves: a role, double backticks, or a line ending in ``::``.
RST_MARKUP = re.compile(r":[a-z]+:`|``|::\s*$", re.MULTILINE)

_ROLE = re.compile(r":[a-z]+:`([^`]*)`")
_TARGET = re.compile(r"^(.*?)\s*<[^<>]+>$")


def _role_text(match: re.Match) -> str:
    """A role's text: the target's last component after ``~``, the title of ``title <target>``, else the target."""
    text = match[1]
    titled = _TARGET.match(text)
    if titled and titled[1]:
        return titled[1]
    return text[1:].rsplit(".", 1)[-1] if text.startswith("~") else text


def plain_text(text: str | None) -> str:
    """``text`` (reStructuredText) as plain text for a terminal.

    Roles become their target's name (the last component for ``~``), ``titled <target>`` its
    title; double and single backticks are dropped; a paragraph ending ``text::`` ends
    ``text:``, a lone ``::`` line goes, and the literal block after either keeps its indent.
    Leading and trailing blank lines are removed.
    """
    if not text:
        return ""
    text = _ROLE.sub(_role_text, text)
    text = text.replace("``", "")
    text = re.sub(r"(?<![\w`])`([^`\n]+)`(?![\w`])", r"\1", text)  # interpreted text: `x`
    lines = []
    for line in text.splitlines():
        stripped = line.rstrip()
        if stripped.strip() == "::":
            continue
        if stripped.endswith("::"):
            stripped = stripped[:-1]
        lines.append(stripped)
    return "\n".join(lines).strip("\n")
