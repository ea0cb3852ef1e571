"""A check for schemathesis's run (``schemathesis_driver.py`` loads this file through SCHEMATHESIS_HOOKS).

Green's Partner API answers every refusal with HTTP 200 and the refusal's status as ``code`` in the body,
so schemathesis's own ``negative_data_rejection``, which reads the HTTP status, would take each refusal there
for an acceptance. This check is that one, reading a partner answer's status from its body; the driver runs
it in place of the stock check, so the Green methods are checked exactly as before.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis import Case, CheckContext, Response
from schemathesis.specs.openapi.checks import negative_data_rejection


def _partner_status(response: Response) -> int | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if isinstance(body, dict) and set(body) == {"code", "description"} and isinstance(body["code"], int):
        return body["code"]
    return None


@schemathesis.check
def negative_data_rejection_partner_aware(
    ctx: CheckContext, response: Response, case: Case[Any]
) -> bool | None:
    status = _partner_status(response) if case.operation.path.startswith("/partner/") else None
    if status is not None and response.status_code == 200:
        response = Response(
            status_code=status,
            headers=response.headers,
            content=response.content,
            request=response.request,
            elapsed=response.elapsed,
            verify=response.verify,
        )
    return negative_data_rejection(ctx, response, case)
