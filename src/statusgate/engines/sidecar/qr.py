"""Green's ``qr`` answer for an account of an engine that runs its library in a child: the same for every
such engine, read off the account's lifecycle and its current QR code."""

from __future__ import annotations

import asyncio

from statusgate.domain.models import QrAnswer
from statusgate.domain.states import InstanceState
from statusgate.engines.sandbox import qr_png_base64
from statusgate.engines.sidecar.account import Account


async def qr_answer(account: Account) -> QrAnswer:
    """Already linked, blocked, starting, or a PNG of the pairing child's current code (a pairing is started
    when none runs); an error saying why when there is none."""
    if account.state is InstanceState.AUTHORIZED:
        return QrAnswer("alreadyLogged", "instance account already authorized")
    if account.state is InstanceState.BLOCKED:
        return QrAnswer("error", f"the account is blocked: {account.reason}")
    if account.linked:
        why = account.reason or "connecting to WhatsApp"
        return QrAnswer("error", f"instance is starting ({why}); try again in a few seconds")
    await account.begin_pairing()
    await account.wait_for_qr()
    if account.qr_code is not None and account.child is not None:
        return QrAnswer("qrCode", await asyncio.to_thread(qr_png_base64, account.qr_code))
    if account.qr_failure:
        return QrAnswer("error", account.qr_failure)
    return QrAnswer("error", f"WhatsApp sent no QR code within {account.limits.qr_timeout:g} s; try again")
