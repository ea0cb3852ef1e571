"""The reference for bench/accept.py: the same framework (FastAPI on uvicorn, same log set-up) answering a
bare JSON POST — parse the body, answer an id — with no validation, no database."""

from __future__ import annotations

import json
import secrets
import sys

import uvicorn
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from statusgate.logs import log_config

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/waInstance{id_instance}/sendMediaStatus/{token}")
async def send(request: Request) -> Response:
    json.loads(await request.body())
    return JSONResponse({"idMessage": "3EB0" + secrets.token_hex(8).upper()})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=log_config(), server_header=False)
