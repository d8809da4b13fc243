"""The API's routers, one module per part of docs/api.md."""
