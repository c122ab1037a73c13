"""Fixtures of the benchmarks: the seeded datasets (cached between runs) and a fake Bot API."""

from __future__ import annotations

import os
import statistics

import pytest

from bench.results import report
from bench.seed import Dataset, postgres_dataset, postgres_problem, sqlite_dataset

BACKENDS = ["sqlite", "postgres"]
# Figures are noisy (2 cores, other work on the machine): each is the median of a few runs.
REPEAT = int(os.environ.get("DANVAN_BENCH_REPEAT", "3"))


def median(values: list[float]) -> float:
    return statistics.median(values)


@pytest.fixture(scope="session")
def sqlite_data() -> Dataset:
    data = sqlite_dataset()
    if data.seed_seconds is not None:
        report("seed.sqlite", data.seed_seconds, "s", "< 120 s", data.seed_seconds < 120)
    return data


@pytest.fixture(scope="session")
def postgres_data() -> Dataset:
    problem = postgres_problem()
    if problem is not None:
        pytest.skip(f"PostgreSQL unavailable: {problem}")
    data = postgres_dataset()
    if data.seed_seconds is not None:
        report("seed.postgres", data.seed_seconds, "s", "< 120 s", data.seed_seconds < 120)
    return data


@pytest.fixture(params=BACKENDS)
def dataset(request: pytest.FixtureRequest) -> Dataset:
    name = "sqlite_data" if request.param == "sqlite" else "postgres_data"
    data: Dataset = request.getfixturevalue(name)
    return data
