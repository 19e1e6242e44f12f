"""What every CAP document a test produces must pass: the OASIS CAP 1.2 schema, and privacy."""

from __future__ import annotations

from functools import cache

from lxml import etree

from partners.cap import NAMESPACE, SCHEMA

# What the test cities' accounts hold and no partner may ever see (contract sections 8 and 16).
PRIVATE = ("+54 11 5555 0101", "5555 0101", "+54 11 5559 0909", "5559 0909", "girasol", "jacaranda", "Rosa (82), lives alone", "Gate code 4512", "Dog in the yard")
FORBIDDEN_ELEMENTS = ("instruction", "contact", "note", "addresses")


@cache
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def checked(document: bytes, private: tuple[str, ...] = PRIVATE) -> etree._Element:
    """The parsed document, after asserting it is valid CAP 1.2 and holds nothing private."""
    root = etree.fromstring(document)
    valid = schema()
    assert valid.validate(root), f"not valid CAP 1.2: {valid.error_log}\n{document.decode()}"
    text = document.decode("utf-8")
    for secret in private:
        assert secret not in text, f"{secret!r} leaked into a CAP document"
    for name in FORBIDDEN_ELEMENTS:
        assert root.find(f".//{{{NAMESPACE}}}{name}") is None, f"a CAP document has <{name}>"
    return root


def field(root: etree._Element, path: str) -> str | None:
    """The text of the first element at `path` ("info/area/areaDesc"), CAP's namespace implied."""
    found = root.find("/".join(f"{{{NAMESPACE}}}{part}" for part in path.split("/")))
    return None if found is None else found.text
