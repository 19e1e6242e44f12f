"""docs/partners.md shows an agency a document and a signature check: both must be true of the code."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.cap_checks import checked, field
from vocabulary.signing import delivery_headers

DOC = (Path(__file__).resolve().parents[2] / "docs" / "partners.md").read_text(encoding="utf-8")


def block(language: str) -> str:
    [found] = re.findall(rf"```{language}\n(.*?)```", DOC, re.S)
    return found


def test_the_example_document_is_valid_cap_1_2() -> None:
    root = checked(block("xml").encode("utf-8"))
    assert field(root, "msgType") == "Update" and field(root, "references")


def test_the_python_example_accepts_the_centers_signature_and_nothing_else() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(block("python"), "docs/partners.md", "exec"), namespace)
    genuine = namespace["genuine"]
    key, body = "f1" * 32, block("xml").encode()
    headers = delivery_headers(key, str(int(time.time())), body)
    assert genuine(key, headers, body)
    assert not genuine("f2" * 32, headers, body)
    assert not genuine(key, headers, body + b" ")
    old = delivery_headers(key, str(int(time.time()) - 3600), body)
    assert not genuine(key, old, body)
