"""Reusable pieces of the test suite: free ports, process trees, gRPC health polling, the fixtures' objects."""
