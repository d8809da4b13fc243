"""The hub's REST + WebSocket API and the dashboard's files (docs/api.md is the contract).

ctx = ApiContext(space, fabric, store, auth, assistant, ApiSettings(port=8321))
async with ApiServer(ctx) as api:
    print(api.url)
"""

from hyperhub.api.app import create_app
from hyperhub.api.context import ApiContext, ApiSettings, FabricDevices
from hyperhub.api.server import ApiServer

__all__ = ["ApiContext", "ApiServer", "ApiSettings", "FabricDevices", "create_app"]
