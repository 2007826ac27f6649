"""Schema fuzzing, the reads (GET): every answer keeps the schema's promise. How: see
tests/schema_fuzzing.py; the writes are in test_api_schema_writes.py, so xdist runs both at once."""

import collections

import pytest

from tests.schema_fuzzing import assert_enough_requests, check_both_ways, fuzz, schema, world  # noqa: F401

reads = schema.include(method="GET")
TALLY: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _enough_requests():
    yield
    labels = {operation.ok().label for operation in reads.get_all_operations()}
    assert_enough_requests(TALLY, labels, at_least=500)


@reads.parametrize()
@fuzz(max_examples=30)
def test_every_read_answers_as_documented(case, world):  # noqa: F811
    check_both_ways(case, world, TALLY)
