"""dead_letter_on_failure leaves a function recognisable: its name and its docstring are the function's own."""

from messaging import dead_letter_on_failure


def test_a_guarded_function_keeps_its_name_and_docstring():
    def counter(context, message):
        """Counts confirmed frauds."""

    guarded = dead_letter_on_failure(counter)

    assert (guarded.__name__, guarded.__doc__, guarded.__wrapped__) == ("counter", "Counts confirmed frauds.", counter)


def test_a_guarded_async_function_keeps_its_name_and_docstring():
    async def merchant(context, message):
        """Asks the merchant-score service."""

    guarded = dead_letter_on_failure(merchant)

    assert (guarded.__name__, guarded.__doc__, guarded.__wrapped__) == (
        "merchant",
        "Asks the merchant-score service.",
        merchant,
    )
