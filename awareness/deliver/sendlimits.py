"""How many confirmation emails the subscribe form may send (issue 15).

Without a limit anyone could have the service mail one address over and over
(25 in 14 seconds) or use it to mail many addresses.  Past a limit the email is
simply not sent: the page the visitor sees is the same, so it cannot be used to
learn whether an address subscribes or was asked for already.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from ..store.store import Store, email_hash
from ..store.schema import confirmation_sends, utcnow

PER_ADDRESS = 3                       # confirmation emails to one address ...
ADDRESS_WINDOW = timedelta(hours=24)  # ... a day, whichever profiles they are for
PER_CLIENT = 10                       # asked for from one client ...
CLIENT_WINDOW = timedelta(hours=1)    # ... an hour


def may_send_confirmation(store: Store, email: str, client: str, *, now: datetime | None = None) -> bool:
    """True (and counted) when this confirmation email may go; the check and count are one locked step."""
    now = now or utcnow()
    digest = email_hash(email)
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(727416)"))
        # the delete comes first: on SQLite it takes the write lock before anything is counted
        conn.execute(confirmation_sends.delete().where(confirmation_sends.c.at < now - ADDRESS_WINDOW))

        def count(*where: sa.ColumnElement[bool]) -> int:
            return int(conn.execute(sa.select(sa.func.count()).select_from(confirmation_sends)
                                    .where(*where)).scalar_one())

        if count(confirmation_sends.c.email_hash == digest, confirmation_sends.c.at >= now - ADDRESS_WINDOW) \
                >= PER_ADDRESS:
            return False
        if count(confirmation_sends.c.client == client, confirmation_sends.c.at >= now - CLIENT_WINDOW) >= PER_CLIENT:
            return False
        conn.execute(confirmation_sends.insert().values(email_hash=digest, client=client, at=now))
    return True
