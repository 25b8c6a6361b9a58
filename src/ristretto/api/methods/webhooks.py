"""Webhook methods: ``ristretto.webhooks.replay`` sends a recorded webhook request again
(System Managers only; the work is ``ristretto.webhooks.records.replay``)."""

from __future__ import annotations

from ristretto.api.call import Call
from ristretto.webhooks import records
from ristretto.whitelist import whitelist


@whitelist("ristretto.webhooks.replay", methods=("POST",))
def replay(call: Call, name: str):
    delivery = records.replay(call.ctx, name)
    # This worker's delivery task looks at the queue as soon as the request commits.
    call.ctx.on_commit.append(call.site.webhooks.wake)
    return {"delivery": delivery}
