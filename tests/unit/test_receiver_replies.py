"""The receiver reports only the replies it gave since its last report."""

from collections import Counter

from receivers.replies import news


def test_only_new_replies_are_reported() -> None:
    counts = Counter({"ACK": 5, "NAK": 1, "dropped": 7})
    assert news(counts, Counter()) == Counter({"ACK": 5, "NAK": 1})
    assert news(counts, Counter({"ACK": 5, "NAK": 1})) == Counter()
    counts["DUH"] += 2
    counts["ACK"] += 1
    assert news(counts, Counter({"ACK": 5, "NAK": 1})) == Counter({"ACK": 1, "DUH": 2})
