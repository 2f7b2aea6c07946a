"""The simulated world: accounts, merchants, and what they do.

Everything is drawn from one random.Random, so a seed replays the same
traffic exactly; tests use that to know which alerts to expect.

Confirmed frauds and custom thresholds land on accounts that transact: they
are drawn from the accounts of recent transactions, as a customer confirms a
fraud on a card that was used.
"""

import collections
import random

from google.protobuf.timestamp_pb2 import Timestamp

from entities_pb2 import ConfirmFraud, CustomThreshold, Transaction

_SYLLABLES = (
    "hy",
    "per",
    "grid",
    "up",
    "arc",
    "zen",
    "lo",
    "va",
    "tri",
    "ko",
    "nex",
    "mo",
    "quo",
    "ra",
    "sol",
    "tek",
    "bi",
    "fy",
    "dor",
    "ix",
    "ple",
    "om",
    "cu",
    "sta",
)


class Traffic:
    def __init__(self, seed=None, accounts: int = 1000, merchants: int = 100):
        self.random = random.Random(seed)
        self.accounts = [f"0x{self.random.getrandbits(32):08X}" for _ in range(accounts)]
        self.merchants = sorted({self._merchant_name() for _ in range(merchants)})
        self._recent_accounts: collections.deque[str] = collections.deque(maxlen=200)

    def _merchant_name(self) -> str:
        parts = self.random.randint(2, 3)
        return "".join(self.random.choice(_SYLLABLES) for _ in range(parts)).capitalize()

    def transaction(self, now_seconds: float) -> tuple[str, Transaction]:
        """A fresh transaction id and its transaction."""
        account = self.random.choice(self.accounts)
        self._recent_accounts.append(account)
        timestamp = Timestamp()
        timestamp.FromNanoseconds(int(now_seconds * 1e9))
        # Card payments: mostly tens of dollars, now and then thousands.
        amount = min(5000, int(self.random.lognormvariate(3.7, 1.1)) + 1)
        transaction = Transaction(
            account=account, timestamp=timestamp, merchant=self.random.choice(self.merchants), amount=amount
        )
        return f"{self.random.getrandbits(128):032x}", transaction

    def confirmation(self) -> ConfirmFraud:
        return ConfirmFraud(account=self._transacting_account())

    def custom_threshold(self) -> CustomThreshold:
        return CustomThreshold(account=self._transacting_account(), threshold=self.random.randint(20, 80))

    def _transacting_account(self) -> str:
        if self._recent_accounts:
            return self.random.choice(self._recent_accounts)
        return self.random.choice(self.accounts)
