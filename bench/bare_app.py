"""The references for bench/accept.py: a bare JSON POST — parse the body, answer an id — with no validation
and no database, on uvicorn with statusgate's log set-up, in two frameworks:

- ``fastapi`` (the reference the goals are stated against): a FastAPI route;
- ``starlette``: a plain Starlette route, what statusgate's own application is built from (it uses no
  FastAPI feature), printed so the ratio against the lighter framework is on record too.
"""

from __future__ import annotations

import json
import secrets
import sys

import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from statusgate.logs import log_config

PATH = "/waInstance{id_instance}/sendMediaStatus/{token}"


async def send(request: Request) -> Response:
    json.loads(await request.body())
    return JSONResponse({"idMessage": "3EB0" + secrets.token_hex(8).upper()})


app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
app.post(PATH)(send)

starlette_app = Starlette(routes=[Route(PATH, send, methods=["POST"])])


if __name__ == "__main__":
    chosen = starlette_app if sys.argv[2:] == ["starlette"] else app
    uvicorn.run(chosen, host="127.0.0.1", port=int(sys.argv[1]), log_config=log_config(), server_header=False)
