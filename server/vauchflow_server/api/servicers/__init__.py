"""gRPC servicers: request → use case → response, nothing more."""
