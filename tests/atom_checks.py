"""RFC 4287's rules for an Atom feed document, checked on the parsed XML (no schema of Atom is shipped)."""

from __future__ import annotations

import re
from datetime import datetime

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")  # RFC 3339 (4287 3.3)
IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")  # absolute, with a scheme (4287 4.2.6)


def _one(parent: etree._Element, name: str, where: str) -> etree._Element:
    found = parent.findall(f"{{{ATOM}}}{name}")
    assert len(found) == 1, f"{where} must have exactly one atom:{name}, has {len(found)}"
    return found[0]


def _date(element: etree._Element, where: str) -> datetime:
    text = element.text or ""
    assert DATE.match(text), f"{where}: {text!r} is not an RFC 3339 date-time"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def checked_feed(document: bytes) -> list[etree._Element]:
    """The feed's entries, after asserting the document is an Atom feed as RFC 4287 section 4 requires."""
    feed = etree.fromstring(document)
    assert feed.tag == f"{{{ATOM}}}feed", f"the root is {feed.tag}, not atom:feed"
    assert IRI.match(_one(feed, "id", "the feed").text or ""), "the feed's id is not an IRI"
    _one(feed, "title", "the feed")
    _date(_one(feed, "updated", "the feed"), "the feed's updated")
    feed_has_author = bool(feed.findall(f"{{{ATOM}}}author"))
    for author in feed.findall(f"{{{ATOM}}}author"):
        assert (_one(author, "name", "an author").text or "").strip(), "an author needs a name"
    for link in feed.iter(f"{{{ATOM}}}link"):
        assert link.get("href"), "every atom:link has an href"
    entries = feed.findall(f"{{{ATOM}}}entry")
    ids = []
    for n, entry in enumerate(entries):
        where = f"entry {n}"
        ids.append(_one(entry, "id", where).text)
        assert IRI.match(ids[-1] or ""), f"{where}: its id is not an IRI"
        _one(entry, "title", where)
        _date(_one(entry, "updated", where), f"{where}'s updated")
        assert feed_has_author or entry.findall(f"{{{ATOM}}}author"), f"{where} needs an author (4287 4.1.1)"
        content = _one(entry, "content", where)
        kind = content.get("type", "text")
        if kind.endswith("+xml") or kind.endswith("/xml"):  # 4287 4.1.3.3: one child element, inline
            assert len(content) == 1 and not (content.text or "").strip(), f"{where}: XML content is one element"
    assert len(set(ids)) == len(ids), "entry ids must be unique in a feed"
    return entries
