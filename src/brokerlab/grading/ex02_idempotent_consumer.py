"""Exercise 2 (chapter 03): apply each payment exactly once, under at-least-once delivery.

The answer ``handle(delivery, ctx)`` runs on the reference queue under fault schedules
(:mod:`brokerlab.grading.harness`); the verdict comes from the broker's history (checked by
:mod:`brokerlab.checker`) and from the balances in ``ctx.db``, which the grader owns.
"""

from __future__ import annotations

from typing import Any

from .core import Check, Exercise
from .harness import search

__all__ = ["EXERCISE", "WORKLOADS"]

CONTRACT = """\
A payments consumer under at-least-once delivery.

- The answer is `handle(delivery, ctx) -> None`.
- `delivery.payload` is `{"payment_id": str, "account": str, "amount": int}`. `delivery.id` is
  the broker's message id.
- `ctx.db` is the consumer's own database and survives crashes.
  `with ctx.db.transaction() as tx:` gives `tx.get(key, default=None)` and `tx.put(key, value)`.
  All puts in one transaction apply together or not at all: a crash inside the block rolls it
  back. Keys are hashable plain values (str, int, tuples of them); values are plain data (None,
  bool, int, float, str, and tuples, lists and dicts of them); `put` refuses anything else with
  a `TypeError`, and `get` returns a copy. The balance of account `a` is the value under
  `("balance", a)` (missing means 0).
- Nothing but `ctx.db` survives a crash: the grader restarts the consumer as a new process
  would, so a set in memory, a global or an attribute set by an earlier call is gone.
- `ctx.ack()` acknowledges the delivery.
- The grader reads the final balances from `ctx.db` and the acks from the broker's history. It
  checks that every account ends with exactly the sum of its distinct payments, and that every
  message is acked.
- The faults include:
  - a crash before or after any call on `ctx`, `ctx.db` or `tx`, inside the transaction too,
    and right after the transaction commits;
  - a lost ack;
  - the broker delivering a message twice (same `delivery.id`);
  - the producer retrying a publish after a lost confirm, which stores the same payment again
    as a second message with its own `delivery.id`;
  - two different payments with the same account and amount, which must both apply.
"""


def _payment(pid: str, account: str, amount: int) -> dict[str, Any]:
    return {"payment_id": pid, "account": account, "amount": amount}


#: The payments each search tries, smallest first. From two on, two different payments share
#: an account and an amount.
WORKLOADS = (
    (_payment("p1", "alice", 10),),
    (_payment("p1", "alice", 10), _payment("p2", "alice", 10)),
    (_payment("p1", "alice", 10), _payment("p2", "bob", 25), _payment("p3", "alice", 10)),
)


def _searching(
    kinds: tuple[str, ...], max_faults: int, workloads: Any = WORKLOADS[:2], must: Any = ()
) -> Any:
    def run(answer: dict[str, Any]) -> None:
        search(answer["handle"], workloads, kinds=kinds, max_faults=max_faults, must=must)

    return run


_HINTS_COMMON = {
    "raised": "handle raised an exception: read the message, and mind that a redelivered "
    "payment finds its own earlier writes in ctx.db.",
    "reached": "Use only ctx.db.transaction(), tx.get, tx.put and ctx.ack().",
    "unacked": "Ack every delivery, duplicates included: a duplicate you skip still has to be "
    "acked, or the broker holds it forever.",
    "balance": "The balance must change by the payment's amount, once per distinct payment: "
    "read it with tx.get(('balance', account), 0) and put the sum back.",
    "crash_duplicate": "After a crash the message comes back to a new process. Record that "
    "the payment was applied in the same transaction that changes the balance, and check that "
    "record first: a set in memory, or a marker written in a separate transaction, does not "
    "survive every crash.",
    "crash_lost": "Ack only after the transaction has committed: a crash between an early ack "
    "and the write loses the payment.",
}

EXERCISE = Exercise(
    id="ex02_idempotent_consumer",
    title="Apply each payment exactly once",
    chapter=3,
    contract=CONTRACT,
    names=("handle",),
    checks=(
        Check(
            "applies each payment once and acks every message when nothing fails",
            2,
            _searching((), 0, WORKLOADS),
            {
                **_HINTS_COMMON,
                "default": "With no faults at all, each payment should change its account's "
                "balance once, and each delivery should be acked.",
                "duplicate": "Each payment must change its balance once: is the amount added "
                "twice, or in two transactions?",
                "lost": "Two different payments can have the same account and amount: tell "
                "payments apart by payment_id, not by their content.",
            },
        ),
        Check(
            "survives a crash before or after any call on ctx, ctx.db or tx",
            2,
            _searching(("crash",), 2),
            {
                **_HINTS_COMMON,
                "default": "Ask what ctx.db holds if the process dies right here, and what the "
                "redelivery will then do.",
            },
        ),
        Check(
            "survives a lost ack and the broker delivering a message twice",
            2,
            _searching(("lost_ack", "duplicate"), 2),
            {
                **_HINTS_COMMON,
                "default": "A message can arrive again after it was applied. Check in ctx.db "
                "whether this payment was applied already.",
                "duplicate": "A redelivered message carries the same payment: look up the "
                "payment's marker in ctx.db before applying it, in the same transaction.",
            },
        ),
        Check(
            "survives the producer publishing the same payment twice as two messages",
            2,
            _searching(("retry", "crash"), 2, must=("retry",)),
            {
                **_HINTS_COMMON,
                "default": "A producer retry makes a second message for the same payment.",
                "duplicate": "A producer retry gives the copy a new delivery.id, so deduplicate "
                "by payment_id (what the payment is), not by delivery.id (which message "
                "carried it).",
            },
        ),
        Check(
            "applies two different payments with the same account and amount, with duplicates",
            2,
            _searching(("duplicate", "retry"), 1, WORKLOADS[1:]),
            {
                **_HINTS_COMMON,
                "default": "Payments p1 and p2 are different payments that happen to look alike.",
                "duplicate": "Tell payments apart by payment_id only.",
                "lost": "Tell payments apart by payment_id only: two payments with the same "
                "account and amount are not duplicates.",
                "balance": "Tell payments apart by payment_id only: two payments with the same "
                "account and amount both apply.",
            },
        ),
    ),
)
