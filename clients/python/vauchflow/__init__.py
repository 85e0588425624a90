"""Vauchflow Python client.

The protobuf messages and gRPC stubs live in ``vauchflow.v1`` and are generated from ``protos/`` by
``make generate``; never edit them by hand.
"""
