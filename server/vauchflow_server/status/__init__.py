"""The public status page's rules and use cases (issue 15)."""
