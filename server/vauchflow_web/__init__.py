"""The web service: the MCP server (/v1/mcp), the merchant dashboard (/) and the public status page (/status).

A client of the gRPC API through the Python client package (`vauchflow`), acting with the caller's key: it has
no database access of its own, so permissions, tenant boundaries and rate limits are the API's.
"""
