"""Renders gateway/envoy.yaml.template for a set of API server replicas and webhook delivery service replicas.

The template holds the configuration; this module fills in what varies between machines and runs: ports, the
replicas' addresses, the descriptor set's path, and the JSON bodies of Envoy's own replies.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "gateway" / "envoy.yaml.template"
DESCRIPTOR_SET = REPO / "gateway" / "generated" / "vauchflow.pb"

# Envoy's own replies (no route, bad JSON, no healthy upstream, ...), as google.rpc.Status JSON bodies:
# HTTP status → (gRPC code number, ErrorInfo reason).
LOCAL_REPLY_REASONS: dict[int, tuple[int, str]] = {
    400: (3, "INVALID_REQUEST"),
    404: (5, "PATH_NOT_FOUND"),
    405: (12, "METHOD_NOT_ALLOWED"),
    408: (4, "REQUEST_TIMEOUT"),
    413: (8, "REQUEST_TOO_LARGE"),
    431: (8, "REQUEST_HEADERS_TOO_LARGE"),
    502: (14, "UPSTREAM_UNAVAILABLE"),
    503: (14, "UPSTREAM_UNAVAILABLE"),
    504: (4, "UPSTREAM_TIMEOUT"),
}


@dataclass(frozen=True)
class GatewaySettings:
    public_port: int
    admin_port: int
    api_addresses: tuple[tuple[str, int], ...]
    # The delivery service's gRPC addresses (the event stream); none: its routes answer 503.
    webhook_addresses: tuple[tuple[str, int], ...] = ()
    listen_host: str = "127.0.0.1"
    descriptor_path: Path = DESCRIPTOR_SET


def _status_filter(status: int) -> dict:
    return {
        "status_code_filter": {
            "comparison": {"op": "EQ", "value": {"default_value": status, "runtime_key": f"local_reply.{status}"}}
        }
    }


def _status_body(status: int, grpc_code: int, reason: str) -> dict:
    return {
        "code": grpc_code,
        "message": "%LOCAL_REPLY_BODY%",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "vauchflow.com"}],
    }


def _original_path_filter(**match: object) -> dict:
    # The transcoder rewrites :path to the gRPC method and keeps the REST path in x-envoy-original-path.
    return {"header_filter": {"header": {"name": "x-envoy-original-path", **match}}}


def _local_reply_mappers() -> list[dict]:
    mappers: list[dict] = [
        # Native gRPC clients: the reply travels as grpc-status/grpc-message, so keep the message plain.
        {
            "filter": {
                "and_filter": {
                    "filters": [
                        _original_path_filter(present_match=True, invert_match=True),
                        {
                            "header_filter": {
                                "header": {"name": "content-type", "string_match": {"prefix": "application/grpc"}}
                            }
                        },
                    ]
                }
            },
            "body_format_override": {"text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"}},
        },
        # When no replica answers, /actuator/health still speaks the Spring Boot shape.
        {
            "filter": {
                "and_filter": {
                    "filters": [_status_filter(503), _original_path_filter(string_match={"prefix": "/actuator/health"})]
                }
            },
            "body_format_override": {
                "json_format": {"status": "DOWN", "components": {"api": {"status": "DOWN"}}},
                "content_type": "application/json",
            },
        },
    ]
    for status, (grpc_code, reason) in LOCAL_REPLY_REASONS.items():
        mappers.append(
            {
                "filter": _status_filter(status),
                "body_format_override": {
                    "json_format": _status_body(status, grpc_code, reason),
                    "content_type": "application/json",
                },
            }
        )
    return mappers


def _indented_json_lines(items: list[dict], indent: int) -> str:
    # JSON is valid YAML, so each item can be written as a one-line flow mapping.
    return "\n".join(" " * indent + "- " + json.dumps(item, sort_keys=True) for item in items)


def _lb_endpoints(addresses: tuple[tuple[str, int], ...]) -> list[dict]:
    return [
        {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}
        for host, port in addresses
    ]


def render(settings: GatewaySettings) -> str:
    if not settings.api_addresses:
        raise ValueError("the gateway needs at least one API server address")
    # IP addresses (the dev stack) are STATIC; names (docker compose services) are re-resolved with STRICT_DNS, so
    # `docker compose up --scale server=3` spreads over every replica the name resolves to.
    cluster_type = "STATIC" if all(_is_ip(host) for host, _ in settings.api_addresses) else "STRICT_DNS"
    webhook_cluster_type = "STATIC" if all(_is_ip(host) for host, _ in settings.webhook_addresses) else "STRICT_DNS"
    return Template(TEMPLATE.read_text()).substitute(
        admin_port=settings.admin_port,
        public_port=settings.public_port,
        listen_host=settings.listen_host,
        descriptor_path=str(settings.descriptor_path),
        api_endpoints=_indented_json_lines(_lb_endpoints(settings.api_addresses), 8),
        api_cluster_type=cluster_type,
        # A one-line flow sequence, so an empty list stays a list.
        webhook_endpoints=json.dumps(_lb_endpoints(settings.webhook_addresses), sort_keys=True),
        webhook_cluster_type=webhook_cluster_type,
        local_reply_mappers=_indented_json_lines(_local_reply_mappers(), 12),
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    """Prints a rendered config, e.g. for a deployment: `--api server:50051 --listen 0.0.0.0 --descriptor ...`."""
    parser = argparse.ArgumentParser(description="Render the Vauchflow Envoy configuration")
    parser.add_argument("--api", action="append", required=True, type=_address, help="host:port, repeatable")
    parser.add_argument("--webhooks", action="append", default=[], type=_address, help="host:port, repeatable")
    parser.add_argument("--public-port", type=int, default=8080)
    parser.add_argument("--admin-port", type=int, default=9901)
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--descriptor", type=Path, default=DESCRIPTOR_SET)
    args = parser.parse_args(argv)
    settings = GatewaySettings(
        public_port=args.public_port,
        admin_port=args.admin_port,
        api_addresses=tuple(args.api),
        webhook_addresses=tuple(args.webhooks),
        listen_host=args.listen,
        descriptor_path=args.descriptor,
    )
    sys.stdout.write(render(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
