"""The things python-worker needs that the StateFun SDK (3.3.0, pinned) does not offer.

The only module that reaches into the SDK's private attributes, so that an SDK
upgrade has one place to look; tests/statefun_functions/test_statefun_internals.py
pins what it relies on.
"""

from statefun import Context, StatefulFunctions


def served_typenames(functions: StatefulFunctions) -> list[str]:
    """The typenames bound in `functions` (for /health and for a 404's reason)."""
    return sorted(functions._functions)


def declared_state(functions: StatefulFunctions) -> list[str]:
    """Each function's state as its ValueSpecs declare it, "<function> <name> <type>" a value
    (for /health: statefun-runtime/last-state.sh compares them with the checkpoint's)."""
    return sorted(
        f"{typename} {spec.name} {spec.type.typename}"
        for typename, function in functions._functions.items()
        for spec in function.storage_spec.specs
    )


class Checkpoint:
    """What one invocation may change, remembered so that it can be undone.

    The SDK batches several messages for one address into one context, so undoing
    one message means returning the state and the three outboxes (messages, delayed
    messages, egress records) to what they were before that message, not before
    the batch.
    """

    def __init__(self, context: Context):
        self._context = context
        self._outbox_sizes = [len(outbox) for outbox in self._outboxes()]
        self._cells = {name: (cell.typed_value, cell.dirty) for name, cell in context.storage._cells.items()}

    def _outboxes(self) -> tuple[list, list, list]:
        context = self._context
        return context._outgoing_messages, context._outgoing_delayed_messages, context._outgoing_egress_messages

    def roll_back(self) -> None:
        for outbox, size in zip(self._outboxes(), self._outbox_sizes, strict=True):
            del outbox[size:]
        for name, cell in self._context.storage._cells.items():
            cell.typed_value, cell.dirty = self._cells[name]
