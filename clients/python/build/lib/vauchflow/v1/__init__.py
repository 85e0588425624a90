"""Generated from protos/vauchflow/v1 by tools/generate_code.py. DO NOT EDIT."""
