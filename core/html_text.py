"""Turn an HTML mail body into readable plain text, with the standard library only.

Nothing is fetched: images become their alt text, links are shown as ``text <url>`` when the
address adds something, scripts and styles are dropped, block elements end lines, list items
get a dash, quoted blocks get ``> ``, and ``<pre>`` keeps its spacing. The result is plain
text that still has to go through :func:`helpdesk.core.sanitize.safe_text` before display.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

MAX_HTML_CHARS = 2_000_000  # larger input is cut; converting it would only hide the rest

_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "object"})
_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "tr",
        "ul",
        "body",
        "html",
    }
)
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre"})
_VOID = frozenset(
    {
        "br",
        "hr",
        "img",
        "input",
        "meta",
        "link",
        "area",
        "base",
        "col",
        "embed",
        "source",
        "track",
        "wbr",
        "param",
    }
)
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")


class _TextBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[str] = []
        self._line: list[str] = []
        self._blank_pending = 0  # 0: nothing, 1: end line, 2: leave an empty line
        self._skip_depth = 0
        self._pre_depth = 0
        self._quote_depth = 0
        self._list_stack: list[list[int]] = []  # [next number] for <ol>, [-1] for <ul>
        self._link_href: str | None = None
        self._link_text: list[str] = []
        self._in_link = False
        self._indent = ""  # list-item indentation of the current line, kept through strip()

    # Output -------------------------------------------------------------------------------
    def _prefix(self) -> str:
        return "> " * self._quote_depth

    def _flush_line(self) -> None:
        text = "".join(self._line)
        if not self._pre_depth:
            text = text.strip()
        self._line = []
        if text:
            self._lines.append(self._prefix() + self._indent + text)
        else:
            self._lines.append(self._prefix().rstrip())
        self._indent = ""

    def _break(self, strength: int) -> None:
        if self._line and "".join(self._line).strip():
            self._flush_line()
        else:
            self._line = []
        self._blank_pending = max(self._blank_pending, strength)

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self._in_link:
            self._link_text.append(text)
            return
        if self._blank_pending:
            if self._lines and self._blank_pending >= 2 and self._lines[-1].strip("> "):
                # The separator is quoted only between two quoted lines.
                quoted = self._quote_depth and self._lines[-1].startswith(">")
                self._lines.append(self._prefix().rstrip() if quoted else "")
            self._blank_pending = 0
        self._line.append(text)

    # Parser callbacks ---------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip_depth += 1
            return
        if self._skip_depth:
            return
        attr = {k: (v or "") for k, v in attrs}
        if tag == "br":
            if self._pre_depth or "".join(self._line).strip():
                self._flush_line()
            else:
                self._lines.append(self._prefix().rstrip())
                self._line = []
            return
        if tag == "blockquote":
            self._break(2)
            self._quote_depth += 1
            return
        if tag in ("ul", "ol"):
            self._break(1)
            self._list_stack.append([1] if tag == "ol" else [-1])
            return
        if tag == "li":
            self._break(1)
            self._indent = "  " * max(0, len(self._list_stack) - 1)
            if self._list_stack and self._list_stack[-1][0] > 0:
                self._emit(f"{self._list_stack[-1][0]}. ")
                self._list_stack[-1][0] += 1
            else:
                self._emit("- ")
            return
        if tag == "hr":
            self._break(1)
            self._emit("-" * 20)
            self._break(1)
            return
        if tag in ("td", "th"):
            if "".join(self._line).strip():
                self._emit("  ")
            return
        if tag == "img":
            alt = _SPACES.sub(" ", attr.get("alt", "")).strip()
            if alt:
                self._emit(f"[{alt}]")
            return
        if tag == "a":
            self._link_href = attr.get("href", "").strip()
            self._link_text = []
            self._in_link = True
            return
        if tag in _BLOCK:
            self._break(2 if tag in _PARAGRAPH else 1)
            if tag == "pre":
                self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            if tag not in _VOID and self._skip_depth:
                self._skip_depth -= 1
            return
        if self._skip_depth:
            return
        if tag == "a":
            self._end_link()
            return
        if tag == "blockquote":
            self._break(2)
            self._quote_depth = max(0, self._quote_depth - 1)
            return
        if tag in ("ul", "ol"):
            if self._list_stack:
                self._list_stack.pop()
            self._break(1)
            return
        if tag in _BLOCK:
            self._break(2 if tag in _PARAGRAPH else 1)
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def _end_link(self) -> None:
        if not self._in_link:
            return
        self._in_link = False
        text = _SPACES.sub(" ", "".join(self._link_text)).strip()
        href = self._link_href or ""
        self._link_href = None
        shown = href
        if href.lower().startswith("mailto:"):
            shown = href[7:].split("?", 1)[0]
        wanted = href.lower().startswith(("http://", "https://", "mailto:", "ftp://"))
        # The address is shown when it says more than the text: not for "https://x" linked
        # as "https://x", and never for javascript: or fragment links.
        if wanted and shown and shown.rstrip("/") not in text:
            self._emit(f"{text} <{shown}>" if text else f"<{shown}>")
        elif text:
            self._emit(text)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._pre_depth:
            parts = data.replace("\r\n", "\n").split("\n")
            for i, part in enumerate(parts):
                if i:
                    self._flush_line()
                self._emit(part)
            return
        text = _SPACES.sub(" ", data)
        if text == " " and not self._line:
            return
        self._emit(text)

    def text(self) -> str:
        self._end_link()
        if self._line:
            self._flush_line()
        out: list[str] = []
        for line in self._lines:
            line = line.rstrip()
            if not line and out and not out[-1]:
                continue
            out.append(line)
        return "\n".join(out).strip("\n")


def html_to_text(html: str) -> str:
    """Return the readable text of ``html``; never raises on malformed markup."""
    builder = _TextBuilder()
    try:
        builder.feed(html[:MAX_HTML_CHARS])
        builder.close()
    except Exception:  # html.parser is lenient, but keep whatever was built so far
        pass
    return builder.text()
