"""Schemathesis fuzzes the center's API from its own /openapi.json: no 500, answers as documented.

Driven through Hypothesis directly: schemathesis' pytest plugin does not load under pytest 9.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from tests.integration.center_support import (
    OPERATOR,
    AlertPublisher,
    RunningCenter,
    make_alert,
    running_center,
    sample_city,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def center(stack, postgres: str) -> Iterator[RunningCenter]:  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as environment, \
            running_center(sample_city(), stack.kafka, stack.redis_url, action_wait_s=0.2) as running:
        environment.setenv("CENTINELA_POSTGRES", postgres)  # the reports read the history
        publisher = AlertPublisher(stack.kafka)
        publisher.publish(make_alert("north", alert_id="fuzz-1"), make_alert("south", alert_id="fuzz-2"))
        publisher.close()
        yield running


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_api_answers_as_documented(center: RunningCenter, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{center.url}/openapi.json").exclude(path="/api/stream")
    operations = [result.ok() for result in schema.get_all_operations()]
    exercised = 0
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: schemathesis.Case) -> None:
            # Unknown query parameters are ignored on purpose (lenient, like the topics), so the
            # negative-data check, which expects them refused, does not apply; and a report period
            # whose `from` is not before its `to` is 422 by the contract, which no schema can say.
            case.call_and_validate(
                headers={"Authorization": f"Bearer {OPERATOR}"},
                excluded_checks=[negative_data_rejection, positive_data_acceptance],
            )

        try:
            answers_as_documented()
        except Unsatisfiable:  # nothing to break in an operation without parameters or body
            assert mode is GenerationMode.NEGATIVE
            continue
        exercised += 1
    assert exercised >= (10 if mode is GenerationMode.POSITIVE else 7)
