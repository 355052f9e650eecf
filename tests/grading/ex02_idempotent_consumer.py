"""Mutants and alternative correct answers for ex02_idempotent_consumer (Python source)."""

MUTANTS = {
    # Deduplicates by the broker's message id: a producer retry has a new id.
    "dedup by delivery.id": """
def handle(delivery, ctx):
    p = delivery.payload
    with ctx.db.transaction() as tx:
        if not tx.get(("seen", delivery.id)):
            key = ("balance", p["account"])
            tx.put(key, tx.get(key, 0) + p["amount"])
            tx.put(("seen", delivery.id), True)
    ctx.ack()
""",
    # The marker in its own transaction, after the payment: a crash in between applies it twice.
    "marker in its own transaction": """
def handle(delivery, ctx):
    p = delivery.payload
    with ctx.db.transaction() as tx:
        done = tx.get(("done", p["payment_id"]), False)
    if not done:
        with ctx.db.transaction() as tx:
            key = ("balance", p["account"])
            tx.put(key, tx.get(key, 0) + p["amount"])
        with ctx.db.transaction() as tx:
            tx.put(("done", p["payment_id"]), True)
    ctx.ack()
""",
    # Remembers applied payments in memory: a restarted process has forgotten them.
    "in-memory set": """
applied = set()

def handle(delivery, ctx):
    p = delivery.payload
    if p["payment_id"] not in applied:
        with ctx.db.transaction() as tx:
            key = ("balance", p["account"])
            tx.put(key, tx.get(key, 0) + p["amount"])
        applied.add(p["payment_id"])
    ctx.ack()
""",
    # Acks before the transaction: a crash in between loses the payment.
    "ack before the transaction": """
def handle(delivery, ctx):
    p = delivery.payload
    ctx.ack()
    with ctx.db.transaction() as tx:
        if not tx.get(("done", p["payment_id"])):
            key = ("balance", p["account"])
            tx.put(key, tx.get(key, 0) + p["amount"])
            tx.put(("done", p["payment_id"]), True)
""",
    # Deduplicates by content: two different payments with equal account and amount collapse.
    "dedup by account and amount": """
def handle(delivery, ctx):
    p = delivery.payload
    marker = ("done", p["account"], p["amount"])
    with ctx.db.transaction() as tx:
        if not tx.get(marker):
            key = ("balance", p["account"])
            tx.put(key, tx.get(key, 0) + p["amount"])
            tx.put(marker, True)
    ctx.ack()
""",
    # No deduplication at all.
    "no deduplication": """
def handle(delivery, ctx):
    p = delivery.payload
    with ctx.db.transaction() as tx:
        key = ("balance", p["account"])
        tx.put(key, tx.get(key, 0) + p["amount"])
    ctx.ack()
""",
    # Catches the crash and acks in finally: a dead process cannot ack.
    "ack in finally, no dedup": """
def handle(delivery, ctx):
    p = delivery.payload
    try:
        with ctx.db.transaction() as tx:
            key = ("balance", p["account"])
            tx.put(key, tx.get(key, 0) + p["amount"])
    except BaseException:
        pass
    finally:
        ctx.ack()
""",
    # Skips duplicates without acking them: the broker holds them forever.
    "duplicates never acked": """
def handle(delivery, ctx):
    p = delivery.payload
    with ctx.db.transaction() as tx:
        if tx.get(("done", p["payment_id"])):
            return
        key = ("balance", p["account"])
        tx.put(key, tx.get(key, 0) + p["amount"])
        tx.put(("done", p["payment_id"]), True)
    ctx.ack()
""",
}

ALTERNATIVES = {
    # One key holds the list of applied payment ids; read-modify-write in one transaction.
    "a list of applied ids": """
def handle(delivery, ctx):
    payment = delivery.payload
    with ctx.db.transaction() as tx:
        applied = tx.get("applied", [])
        if payment["payment_id"] in applied:
            pass
        else:
            applied.append(payment["payment_id"])
            tx.put("applied", applied)
            balance = tx.get(("balance", payment["account"]))
            tx.put(("balance", payment["account"]), (balance or 0) + payment["amount"])
    ctx.ack()
""",
    # A class-based consumer with a read-only check first, then a second check inside the
    # writing transaction (the first one is only an optimisation).
    "check, then check again while writing": """
class PaymentApplier:
    def __init__(self, db):
        self.db = db

    def already_applied(self, pid):
        with self.db.transaction() as tx:
            return tx.get(("payment", pid)) is not None

    def apply(self, p):
        with self.db.transaction() as tx:
            if tx.get(("payment", p["payment_id"])) is not None:
                return
            account = ("balance", p["account"])
            tx.put(("payment", p["payment_id"]), {"amount": p["amount"], "account": p["account"]})
            tx.put(account, tx.get(account, 0) + p["amount"])


def handle(delivery, ctx):
    applier = PaymentApplier(ctx.db)
    if not applier.already_applied(delivery.payload["payment_id"]):
        applier.apply(delivery.payload)
    ctx.ack()
""",
    # An in-memory cache in front of the database: allowed, because the database decides.
    "in-memory cache backed by the database": """
cache = set()

def handle(delivery, ctx):
    pid = delivery.payload["payment_id"]
    if pid not in cache:
        with ctx.db.transaction() as tx:
            if not tx.get(("applied", pid), False):
                a = delivery.payload["account"]
                tx.put(("balance", a), tx.get(("balance", a), 0) + delivery.payload["amount"])
                tx.put(("applied", pid), True)
        cache.add(pid)
    ctx.ack()
""",
}
