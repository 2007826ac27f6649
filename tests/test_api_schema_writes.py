"""Schema fuzzing, the writes (POST): every answer keeps the schema's promise. How: see
tests/schema_fuzzing.py; the reads are in test_api_schema.py, so xdist runs both at once."""

import collections

import pytest

from tests.schema_fuzzing import assert_enough_requests, check_both_ways, fuzz, schema, world  # noqa: F401

writes = schema.include(method="POST")
TALLY: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _enough_requests():
    yield
    labels = {operation.ok().label for operation in writes.get_all_operations()}
    assert_enough_requests(TALLY, labels, at_least=500)


@writes.parametrize()
@fuzz(max_examples=15)  # writes cost more: their coverage phase alone makes ~1,200
def test_every_write_answers_as_documented(case, world):  # noqa: F811
    check_both_ways(case, world, TALLY)
