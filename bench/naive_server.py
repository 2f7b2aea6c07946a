"""The baseline: the endpoint as the StateFun playground writes it, serving the same functions.

One aiohttp process, the SDK as pinned (protobuf 3.20.3, pure Python), a plain handler.
    PORT=18000 .venv/bin/python bench/naive_server.py
"""

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "statefun-functions"))

from aiohttp import web  # noqa: E402
from statefun import RequestReplyHandler, StatefulFunctions  # noqa: E402

import config  # noqa: E402
import main  # noqa: E402
from merchant_client import MerchantScoreClient  # noqa: E402

settings = config.load()
functions = main.bind_functions(StatefulFunctions(), settings, MerchantScoreClient(settings.merchant_service_url))
handler = RequestReplyHandler(functions)


async def handle(request):
    request_data = await request.read()
    response_data = await handler.handle_async(request_data)
    return web.Response(body=response_data, content_type="application/octet-stream")


app = web.Application()
app.add_routes([web.post("/statefun", handle)])

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ.get("PORT", "18000")))
