"""Folder-structure templates: take project/unit (and building/room/stage) from a photo's path.

A template is matched against the photo's path relative to the scanned DIR, segment by
segment: ``{field}`` captures (part of) one segment, ``*`` matches any text within one
segment, and a ``...`` segment matches any number of folders (as the last segment: the
rest of the path, file name included).

>>> Layout.parse("{project}/{unit}/...").match("P1/3-2-1701/kitchen/a.jpg")
{'project': 'P1', 'unit': '3-2-1701'}
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finishscan.errors import ConfigError

FIELDS = ("project", "unit", "building", "room", "stage")
_TOKEN = re.compile(r"\{([^{}]*)\}|\*")


@dataclass(frozen=True)
class Layout:
    """A compiled template; build it with :meth:`parse`."""

    template: str
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, template: str) -> Layout:
        """Compile ``template``; :class:`ConfigError` for an unknown or repeated field,
        a missing ``{project}`` or ``{unit}``, or an empty segment."""
        text = template.strip().strip("/")
        if not text:
            raise ConfigError("layout is empty; e.g. --layout '{project}/{unit}/...'")
        segments = text.split("/")
        seen: list[str] = []
        parts: list[str] = []
        for i, seg in enumerate(segments):
            last = i == len(segments) - 1
            if seg == "...":
                parts.append(".+" if last else "(?:[^/]+/)*")
                continue
            if not seg:
                raise ConfigError(f"layout {template!r} has an empty segment ('//')")
            parts.append(_segment(seg, template, seen) + ("" if last else "/"))
        for required in ("project", "unit"):
            if required not in seen:
                raise ConfigError(f"layout {template!r} must contain {{{required}}}")
        return cls(template=template, pattern=re.compile("".join(parts)))

    def match(self, rel: str) -> dict[str, str] | None:
        """The fields captured from a relative POSIX path, or None when it does not fit."""
        m = self.pattern.fullmatch(rel)
        return None if m is None else {k: v for k, v in m.groupdict().items() if v}


def _segment(seg: str, template: str, seen: list[str]) -> str:
    out: list[str] = []
    pos = 0
    for tok in _TOKEN.finditer(seg):
        out.append(re.escape(seg[pos : tok.start()]))
        pos = tok.end()
        if tok.group(0) == "*":
            out.append("[^/]*")
            continue
        name = tok.group(1)
        if name not in FIELDS:
            raise ConfigError(
                f"layout {template!r}: unknown field {{{name}}}; known: "
                + ", ".join("{" + f + "}" for f in FIELDS)
            )
        if name in seen:
            raise ConfigError(f"layout {template!r}: field {{{name}}} appears twice")
        seen.append(name)
        out.append(f"(?P<{name}>[^/]+?)")
    rest = seg[pos:]
    if "{" in rest or "}" in rest:
        raise ConfigError(f"layout {template!r}: unbalanced brace in segment {seg!r}")
    out.append(re.escape(rest))
    return "".join(out)
