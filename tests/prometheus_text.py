"""Reading a Prometheus text exposition (python-worker's /metrics) in the tests: one parser,
prometheus_client's own."""

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(text: str, name: str) -> float:
    """The sum of every sample called `name`, whatever its labels."""
    return sum(value for (sample, _), value in samples(text).items() if sample == name)
