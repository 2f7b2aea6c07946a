"""Scale-out on Flink itself: two TaskManagers, the job at parallelism 2, two partitions per topic."""

import pytest

from load import exactly_once_through_a_crash_under_load
from local_workshop import rest

pytestmark = pytest.mark.faults

SCALED_OUT = ("--taskmanagers", "2", "--parallelism", "2", "--partitions", "2")


@pytest.fixture(scope="module")
def scaled_out(workshop):
    """The workshop on fresh topics with two partitions each, two TaskManagers and the job at
    parallelism 2; afterwards, as shipped again (fresh topics, one partition)."""
    workshop.down(volumes=True)  # topics keep their partition count: start them anew
    workshop.up(options=SCALED_OUT)
    yield workshop
    workshop.down(volumes=True)
    workshop.up()


def test_the_job_runs_at_parallelism_2_on_two_taskmanagers(scaled_out):
    job = scaled_out.running_job()
    vertices = rest(f"/jobs/{job}")["vertices"]
    print(f"\nscaled out: {[(vertex['name'][:40], vertex['parallelism']) for vertex in vertices]}")
    assert all(vertex["parallelism"] == 2 for vertex in vertices)
    assert len(rest("/taskmanagers")["taskmanagers"]) == 2


def test_one_of_two_taskmanagers_crashing_under_load_loses_and_duplicates_nothing(scaled_out, producer, alerts):
    exactly_once_through_a_crash_under_load(scaled_out, producer, alerts, "worker-2")
