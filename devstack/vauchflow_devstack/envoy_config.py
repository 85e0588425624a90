"""Renders gateway/envoy.yaml.template for a set of API server replicas and webhook delivery service replicas.

The template holds the configuration; this module fills in what varies between machines and runs: ports, the
replicas' addresses, the descriptor set's path, the JSON bodies of Envoy's own replies, and the 405 routes, which it
derives from the google.api.http rules in the descriptor set (the same rules the transcoder routes by).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from vauchflow_core import csv_format
from vauchflow_core.rpc import request_ids

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "gateway" / "envoy.yaml.template"
DESCRIPTOR_SET = REPO / "gateway" / "generated" / "vauchflow.pb"
# Where the early header mutation keeps the client's x-request-id until the request-id Lua filter judges it.
CLIENT_REQUEST_ID_HEADER = "x-vauchflow-client-request-id"
_HTTP_METHODS = ("get", "put", "post", "delete", "patch")

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
    # The web service's HTTP addresses (MCP, dashboard, status page); none: its routes answer 503.
    web_addresses: tuple[tuple[str, int], ...] = ()
    # Server reflection and the operator-only TenantService on the public port. The dev stack keeps them (the
    # README's getting-started uses them); a production gateway turns them off and operators use the direct port.
    expose_admin_services: bool = True
    # Idle limits (seconds without a byte either way before Envoy closes a stream): every route by default, the
    # event streams (gRPC and REST), and the dashboard's live events, which must close before the event stream
    # it relays (see the template).
    stream_idle_seconds: int = 60
    event_stream_idle_seconds: int = 300
    live_events_idle_seconds: int = 240
    # The heap Envoy may use before its overload actions start (see the template).
    max_heap_bytes: int = 512 * 1024 * 1024
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


def http_routes(descriptor_set: descriptor_pb2.FileDescriptorSet) -> list[tuple[str, str]]:
    """(HTTP method, path template) of every google.api.http rule and additional binding in the descriptor set."""
    routes = []
    for file in descriptor_set.file:
        for service in file.service:
            for method in service.method:
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in (rule, *rule.additional_bindings):
                    pattern = binding.WhichOneof("pattern")
                    if pattern == "custom":
                        routes.append((binding.custom.kind.upper(), binding.custom.path))
                    elif pattern in _HTTP_METHODS:
                        routes.append((pattern.upper(), getattr(binding, pattern)))
    return routes


_TEMPLATE_VARIABLE = re.compile(r"\{[^}=]+(?:=([^}]*))?\}")


def path_regex(template: str) -> str:
    """An RE2 regex for the paths a google.api.http template matches: `*` is one segment, `**` any number.
    Variables hold no ":" here, so `/v1/vouchers/{code}` and `/v1/vouchers/{code}:redeem` match apart (RE2 has no
    lookahead to say "any segment but one ending in :redeem"); a path with an unknown verb is left to the
    transcoder."""

    def segments(pattern: str) -> str:
        parts = []
        for segment in pattern.split("/"):
            parts.append({"*": "[^/:]+", "**": "[^:]+"}.get(segment, re.escape(segment)))
        return "/".join(parts)

    regex, position = "", 0
    for match in _TEMPLATE_VARIABLE.finditer(template):
        regex += re.escape(template[position : match.start()])
        regex += segments(match.group(1) or "*")
        position = match.end()
    regex += re.escape(template[position:])
    return f"^{regex}$"


def _method_not_allowed_routes(routes: Iterable[tuple[str, str]]) -> list[dict]:
    allowed: dict[str, set[str]] = {}
    for method, template in routes:
        allowed.setdefault(path_regex(template), set()).add(method)
    result = []
    for regex, methods in sorted(allowed.items()):
        allow = ", ".join(sorted(methods))
        result.append(
            {
                "match": {
                    "safe_regex": {"regex": regex},
                    "headers": [
                        {
                            "name": ":method",
                            "string_match": {"safe_regex": {"regex": f"^({'|'.join(sorted(methods))})$"}},
                            "invert_match": True,
                        }
                    ],
                },
                # The body becomes the message of the JSON google.rpc.Status (local_reply_config, 405).
                "direct_response": {"status": 405, "body": {"inline_string": f"method not allowed; use {allow}"}},
                "response_headers_to_add": [
                    {"header": {"key": "allow", "value": allow}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
                ],
                # The transcoder would answer first (404: no RPC for this method), before the router sees the route.
                "typed_per_filter_config": {
                    "envoy.filters.http.grpc_json_transcoder": {
                        "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
                        "disabled": True,
                    }
                },
            }
        )
    return result


# What expose_admin_services=False hides: native gRPC reflection and TenantService, and TenantService's REST paths.
_ADMIN_PREFIXES = ("/grpc.reflection.", "/vauchflow.v1.TenantService/", "/v1/tenants")


def _admin_service_routes(expose: bool) -> list[dict]:
    """Routes that answer 404 (JSON, like Envoy's other replies) for the admin services when they are hidden."""
    if expose:
        return []
    return [
        {
            "match": {"prefix": prefix},
            "direct_response": {
                "status": 404,
                # local_reply_config turns this into the JSON error shape of every other reply.
                "body": {"inline_string": "not served on the public port; use the API server's own port"},
            },
        }
        for prefix in _ADMIN_PREFIXES
    ]


def load_descriptor_set(path: Path) -> descriptor_pb2.FileDescriptorSet:
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    descriptor_set.ParseFromString(path.read_bytes())
    return descriptor_set


def _indented_json_lines(items: list[dict], indent: int) -> str:
    # JSON is valid YAML, so each item can be written as a one-line flow mapping.
    return "\n".join(" " * indent + "- " + json.dumps(item, sort_keys=True) for item in items)


def _lb_endpoints(addresses: tuple[tuple[str, int], ...]) -> list[dict]:
    return [
        {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}} for host, port in addresses
    ]


def render(settings: GatewaySettings, routes_from: Path = DESCRIPTOR_SET) -> str:
    """The Envoy configuration; routes_from is the descriptor set whose HTTP rules decide the 405 routes (the one
    Envoy loads, settings.descriptor_path, may live elsewhere, e.g. in a container)."""
    if not settings.api_addresses:
        raise ValueError("the gateway needs at least one API server address")
    if not 0 < settings.live_events_idle_seconds < settings.event_stream_idle_seconds:
        # Otherwise a quiet dashboard feed would lose its upstream stream first, which the page reports as ended.
        raise ValueError("the live events idle limit must be positive and below the event stream's")
    if settings.stream_idle_seconds <= 0 or settings.event_stream_idle_seconds <= 0:
        raise ValueError("idle limits must be positive")
    # IP addresses (the dev stack) are STATIC; names (docker compose services) are re-resolved with STRICT_DNS, so
    # `docker compose up --scale server=3` spreads over every replica the name resolves to.
    cluster_type = "STATIC" if all(_is_ip(host) for host, _ in settings.api_addresses) else "STRICT_DNS"
    webhook_cluster_type = "STATIC" if all(_is_ip(host) for host, _ in settings.webhook_addresses) else "STRICT_DNS"
    web_cluster_type = "STATIC" if all(_is_ip(host) for host, _ in settings.web_addresses) else "STRICT_DNS"
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
        web_endpoints=json.dumps(_lb_endpoints(settings.web_addresses), sort_keys=True),
        web_cluster_type=web_cluster_type,
        local_reply_mappers=_indented_json_lines(_local_reply_mappers(), 12),
        method_not_allowed_routes=_indented_json_lines(
            _method_not_allowed_routes(http_routes(load_descriptor_set(routes_from))), 14
        ),
        client_request_id_header=CLIENT_REQUEST_ID_HEADER,
        max_heap_bytes=settings.max_heap_bytes,
        admin_service_routes=_indented_json_lines(_admin_service_routes(settings.expose_admin_services), 14),
        request_id_max_length=request_ids.MAX_LENGTH,
        stream_idle_timeout=f"{settings.stream_idle_seconds}s",
        event_stream_idle_timeout=f"{settings.event_stream_idle_seconds}s",
        live_events_idle_timeout=f"{settings.live_events_idle_seconds}s",
        csv_import_max_bytes=csv_format.MAX_IMPORT_BYTES,
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
    parser.add_argument("--web", action="append", default=[], type=_address, help="host:port, repeatable")
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
        web_addresses=tuple(args.web),
        listen_host=args.listen,
        descriptor_path=args.descriptor,
    )
    sys.stdout.write(render(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
