"""How long a claim on an inbox item or an outbox message lasts while its process lives."""

from __future__ import annotations

from datetime import timedelta

# It must outlast a send (a front end's longest_send, about 25 s for Slack) and a handler's
# transaction: a claim that runs out mid-way lets another process take the work too. A dead
# process's claims end at once (bot/liveness.py), not when this runs out.
LEASE = timedelta(seconds=60)
