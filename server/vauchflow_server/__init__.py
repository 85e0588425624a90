"""Vauchflow API server: tenancy, API keys, vouchers and atomic redemption over gRPC."""
