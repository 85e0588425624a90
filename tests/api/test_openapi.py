"""The REST API reference (docs/openapi.json): valid OpenAPI 3, one operation per HTTP-annotated RPC with the
transcoder's path/query/body split, proto3 JSON shapes, the google.rpc.Status error body and bearer auth.
The walker (tools/openapi.py) is also tested alone on a small descriptor set built here."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2, status_pb2
from jsonschema import Draft4Validator
from openapi_spec_validator import validate

from vauchflow_core.permissions import ANY_KEY, OPERATOR, PUBLIC, REQUIRED_PERMISSION

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "docs" / "openapi.json"
DESCRIPTOR_SET = REPO / "gateway" / "generated" / "vauchflow.pb"
FieldProto = descriptor_pb2.FieldDescriptorProto
SIXTY_FOUR_BIT = {
    FieldProto.TYPE_INT64,
    FieldProto.TYPE_UINT64,
    FieldProto.TYPE_SINT64,
    FieldProto.TYPE_FIXED64,
    FieldProto.TYPE_SFIXED64,
}
ERROR_STATUSES = ("400", "401", "403", "404", "409", "429", "503")


def _load_walker():
    spec = importlib.util.spec_from_file_location("vauchflow_tools_openapi", REPO / "tools" / "openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


walker = _load_walker()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    descriptor_set.ParseFromString(DESCRIPTOR_SET.read_bytes())
    return descriptor_set


def _operations(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for verb, operation in item.items():
            yield path, verb, operation


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, kind, name = node["$ref"].removeprefix("#/").split("/", 2)
        node = document[section][kind][name]
    return node


def _expected_routes(descriptor_set: descriptor_pb2.FileDescriptorSet) -> dict[tuple[str, str], str]:
    """(verb, OpenAPI path) -> full gRPC method, walking the descriptor set independently of the generator."""
    routes: dict[tuple[str, str], str] = {}
    for file in descriptor_set.file:
        for service in file.service:
            for method in service.method:
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in [rule, *rule.additional_bindings]:
                    verb = binding.WhichOneof("pattern")
                    # A resource name's literal segments stay in the path (`{name=operations/**}` is
                    # `operations/{name}`, `{name=operations}` is `operations`).
                    path = re.sub(r"\{([^}=]+)=([a-z-]+)/\*\*?\}", r"\2/{\1}", getattr(binding, verb))
                    path = re.sub(r"\{[^}=]+=([a-z-]+)\}", r"\1", path)
                    # Plain parameter names: the last field of a dotted path variable.
                    path = re.sub(r"\{(?:[^}=]+\.)?([^}=.]+)(=[^}]*)?\}", r"{\1}", path)
                    routes[(verb, path)] = f"/{file.package}.{service.name}/{method.name}"
    return routes


# ---- the committed document ----


def test_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)


def test_document_is_what_the_walker_writes_and_is_stable(descriptor_set):
    first = walker.render(walker.build_document(descriptor_set, REQUIRED_PERMISSION))
    again = walker.render(walker.build_document(walker.load_descriptor_set(DESCRIPTOR_SET), REQUIRED_PERMISSION))
    assert first == again
    assert DOCUMENT.read_text(encoding="utf-8") == first, "run `make generate`"


def test_every_http_annotated_rpc_is_an_operation(document, descriptor_set):
    routes = _expected_routes(descriptor_set)
    assert len(routes) >= 18
    listed = {(verb, path): operation["operationId"] for path, verb, operation in _operations(document)}
    assert set(listed) == set(routes)
    for route, full_method in routes.items():
        service, method = full_method.rsplit(".", 1)[-1].split("/")
        assert listed[route] == f"{service}_{method}"


def test_the_routes_of_the_design_are_there(document):
    assert document["paths"]["/v1/vouchers/{code}:redeem"]["post"]["operationId"] == "RedemptionService_RedeemVoucher"
    assert document["paths"]["/v1/tenants/{id}"]["patch"]["operationId"] == "TenantService_UpdateTenant"
    assert document["paths"]["/v1/tenants/{id}"]["get"]["operationId"] == "TenantService_GetTenant"
    assert set(document["paths"]["/v1/vouchers/{code}"]) == {"get", "patch"}
    assert set(document["paths"]["/v1/webhook-endpoints/{id}"]) == {"get", "patch", "delete"}
    assert document["paths"]["/actuator/health"]["get"]["operationId"] == "HealthService_Check"


def test_long_running_operations_are_documented_with_their_literal_segments(document):
    """google.longrunning.Operations (campaign code generation): the resource name's literal segment stays in the
    path, so a client fills in the id only and Envoy's transcoder matches the segments it expects."""
    paths = document["paths"]
    assert paths["/v1/operations"]["get"]["operationId"] == "Operations_ListOperations"
    assert set(paths["/v1/operations/{name}"]) == {"get", "delete"}
    assert paths["/v1/operations/{name}:cancel"]["post"]["x-required-permission"] == "vouchers:write"
    (parameter,) = paths["/v1/operations/{name}"]["get"]["parameters"]
    assert parameter["in"] == "path"
    assert "`operations/{name}`" in parameter["description"]
    assert "name" not in {p["name"] for p in paths["/v1/operations"]["get"]["parameters"]}


def test_path_parameters_match_the_templates(document):
    for path, verb, operation in _operations(document):
        in_path = [p for p in operation.get("parameters", []) if p["in"] == "path"]
        assert [p["name"] for p in in_path] == re.findall(r"\{([^}]+)\}", path), f"{verb} {path}"
        assert all(p["required"] for p in in_path)


def test_no_path_item_has_dotted_parameters(document):
    for path, verb, operation in _operations(document):
        assert "." not in "".join(re.findall(r"\{([^}]+)\}", path)), path
        assert all("." not in p["name"] for p in operation.get("parameters", []) if p["in"] == "path"), (verb, path)


def test_dotted_path_variables_are_plain_parameters_documented_as_request_fields(document):
    operation = document["paths"]["/v1/vouchers/{code}"]["patch"]
    (parameter,) = [p for p in operation["parameters"] if p["in"] == "path"]
    assert parameter["name"] == "code"
    assert "`voucher.code`" in parameter["description"]
    # An update's body: what create requires (discount) may be left out.
    assert operation["requestBody"]["content"]["application/json"]["schema"]["allOf"] == [
        {"$ref": "#/components/schemas/vauchflow.v1.Voucher.Patch"}
    ]
    assert "required" not in document["components"]["schemas"]["vauchflow.v1.Voucher.Patch"]
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["update_mask"]


def test_body_star_leaves_out_the_path_fields(document):
    body = document["paths"]["/v1/vouchers/{code}:redeem"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["properties"]) == {"customer_id", "order", "metadata", "request_id"}


def test_list_calls_take_their_fields_as_query_parameters(document):
    operation = document["paths"]["/v1/redemptions"]["get"]
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [
        ("page_size", "query"),
        ("page_token", "query"),
        ("voucher_code", "query"),
        ("customer_id", "query"),
        ("status", "query"),
        ("start_time", "query"),
        ("end_time", "query"),
        ("order_by", "query"),
        ("campaign_id", "query"),
    ]
    assert "requestBody" not in operation


def test_sixty_four_bit_integers_are_strings(document, descriptor_set):
    schemas = document["components"]["schemas"]
    checked = 0
    for file in descriptor_set.file:
        for message in file.message_type:
            schema = schemas.get(f"{file.package}.{message.name}")
            if schema is None:
                continue
            for field in message.field:
                if field.type in SIXTY_FOUR_BIT:
                    assert schema["properties"][field.name]["type"] == "string", f"{message.name}.{field.name}"
                    checked += 1
    assert checked >= 6
    redemption_count = schemas["vauchflow.v1.Voucher"]["properties"]["redemption_count"]
    assert (redemption_count["type"], redemption_count["format"]) == ("string", "int64")


def test_json_shapes_follow_proto3_json(document):
    schemas = document["components"]["schemas"]
    voucher = schemas["vauchflow.v1.Voucher"]["properties"]
    assert voucher["valid_from"]["type"] == "string" and voucher["valid_from"]["format"] == "date-time"
    assert voucher["metadata"]["additionalProperties"] == {"type": "string"}
    assert schemas["vauchflow.v1.Voucher"]["required"] == ["discount"]
    assert "createTime" not in voucher and "create_time" in voucher
    assert schemas["vauchflow.v1.VoucherStatus"]["enum"] == [
        "VOUCHER_STATUS_UNSPECIFIED",
        "VOUCHER_STATUS_ACTIVE",
        "VOUCHER_STATUS_DISABLED",
    ]
    assert schemas["vauchflow.v1.Discount"]["x-oneof"] == {"value": ["percent_off", "amount_off"]}
    update_mask = document["paths"]["/v1/tenants/{id}"]["patch"]["parameters"][1]
    assert (update_mask["name"], update_mask["schema"]["type"]) == ("update_mask", "string")


def test_every_operation_references_the_error_schema(document):
    status_ref = {"$ref": "#/components/schemas/google.rpc.Status"}
    for path, verb, operation in _operations(document):
        public = operation["x-required-permission"] == PUBLIC
        responses = operation["responses"]
        assert "200" in responses
        for status in ERROR_STATUSES:
            if public and status in ("401", "403"):
                assert status not in responses
                continue
            response = _resolve(document, responses[status])
            if path.startswith("/actuator/health") and status == "503":
                continue  # health's DOWN body is its own response message
            assert response["content"]["application/json"]["schema"] == status_ref, f"{verb} {path} {status}"


def test_error_schema_is_google_rpc_status_with_typed_details(document):
    schemas = document["components"]["schemas"]
    status = schemas["google.rpc.Status"]["properties"]
    assert set(status) == {"code", "message", "details"}
    variants = status["details"]["items"]["oneOf"]
    types = {v["allOf"][0]["properties"]["@type"]["enum"][0]: v["allOf"][1]["$ref"] for v in variants}
    assert types["type.googleapis.com/google.rpc.ErrorInfo"] == "#/components/schemas/google.rpc.ErrorInfo"
    assert types["type.googleapis.com/google.rpc.BadRequest"] == "#/components/schemas/google.rpc.BadRequest"
    assert set(schemas["google.rpc.ErrorInfo"]["properties"]) == {"reason", "domain", "metadata"}
    assert "field_violations" in schemas["google.rpc.BadRequest"]["properties"]


def test_security_is_a_bearer_token_except_for_health_and_the_public_status_calls(document):
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearerAuth": []}]
    assert document["paths"]["/actuator/health"]["get"]["security"] == []
    for path, verb, operation in _operations(document):
        if operation["x-required-permission"] == PUBLIC:
            # The public status page's summary and its subscriptions (subscribe, confirm, unsubscribe by token).
            assert path.startswith(("/actuator/health", "/v1/status/subscriptions")) or path == "/v1/status/summary"
            assert operation["security"] == []
        else:
            assert "security" not in operation, f"{verb} {path} overrides the global bearer scheme"


def test_operations_name_the_permission_they_need(document, descriptor_set):
    routes = _expected_routes(descriptor_set)
    for path, verb, operation in _operations(document):
        permission = REQUIRED_PERMISSION[routes[(verb, path)]]
        assert operation["x-required-permission"] == permission
        if permission == OPERATOR:
            assert operation["tags"] in (["TenantService"], ["StatusService"])
            assert "operator token" in operation["description"]
        elif permission == ANY_KEY:
            assert "Any valid API key" in operation["description"]
        elif permission != PUBLIC:
            assert f"`{permission}`" in operation["description"]


def test_proto_comments_become_descriptions(document):
    operation = document["paths"]["/v1/vouchers/{code}:redeem"]["post"]
    assert operation["summary"].startswith("Redeems a voucher atomically")
    tags = {tag["name"]: tag for tag in document["tags"]}
    assert "operator" in tags["TenantService"]["description"]
    assert (
        "Order total" in document["components"]["schemas"]["vauchflow.v1.Order"]["properties"]["amount"]["description"]
    )


# ---- the walker on a small, hand-built descriptor set ----


def _field(name: str, number: int, kind: int, type_name: str = "", repeated: bool = False) -> FieldProto:
    label = FieldProto.LABEL_REPEATED if repeated else FieldProto.LABEL_OPTIONAL
    return FieldProto(name=name, number=number, type=kind, type_name=type_name, label=label)


def _method(
    service: descriptor_pb2.ServiceDescriptorProto, name: str, request: str, rule: http_pb2.HttpRule | None
) -> None:
    method = service.method.add(name=name, input_type=f".shop.v1.{request}", output_type=".shop.v1.ItemResponse")
    if rule is not None:
        method.options.Extensions[annotations_pb2.http].CopyFrom(rule)


def _shop_descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    file = descriptor_pb2.FileDescriptorProto(name="shop/v1/shop.proto", package="shop.v1", syntax="proto3")
    file.enum_type.add(name="Kind").value.extend(
        [
            descriptor_pb2.EnumValueDescriptorProto(name="KIND_UNSPECIFIED", number=0),
            descriptor_pb2.EnumValueDescriptorProto(name="KIND_BOOK", number=1),
        ]
    )
    money = file.message_type.add(name="Money")
    money.field.extend([_field("amount", 1, FieldProto.TYPE_INT64), _field("currency", 2, FieldProto.TYPE_STRING)])

    item = file.message_type.add(name="Item")
    labels = item.nested_type.add(name="LabelsEntry")
    labels.options.map_entry = True
    labels.field.extend([_field("key", 1, FieldProto.TYPE_STRING), _field("value", 2, FieldProto.TYPE_STRING)])
    item.oneof_decl.add(name="_rank")
    rank = _field("rank", 9, FieldProto.TYPE_INT32)
    rank.oneof_index, rank.proto3_optional = 0, True
    item.field.extend(
        [
            _field("sku", 1, FieldProto.TYPE_STRING),
            _field("quantity", 2, FieldProto.TYPE_INT64),
            _field("kind", 3, FieldProto.TYPE_ENUM, ".shop.v1.Kind"),
            _field("price", 4, FieldProto.TYPE_MESSAGE, ".shop.v1.Money"),
            _field("labels", 5, FieldProto.TYPE_MESSAGE, ".shop.v1.Item.LabelsEntry", repeated=True),
            _field("tags", 6, FieldProto.TYPE_STRING, repeated=True),
            _field("create_time", 7, FieldProto.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
            _field("history", 8, FieldProto.TYPE_MESSAGE, ".shop.v1.Money", repeated=True),
            rank,
        ]
    )
    item_ref = (".shop.v1.Item", FieldProto.TYPE_MESSAGE)
    file.message_type.add(name="GetItemRequest").field.extend(
        [
            _field("shop", 1, FieldProto.TYPE_STRING),
            _field("item", 2, item_ref[1], item_ref[0]),
            _field("include_deleted", 3, FieldProto.TYPE_BOOL),
        ]
    )
    file.message_type.add(name="UpdateItemRequest").field.extend(
        [
            _field("item", 1, item_ref[1], item_ref[0]),
            _field("update_mask", 2, FieldProto.TYPE_MESSAGE, ".google.protobuf.FieldMask"),
            _field("request_id", 3, FieldProto.TYPE_STRING),
        ]
    )
    file.message_type.add(name="CreateItemRequest").field.extend(
        [
            _field("shop", 1, FieldProto.TYPE_STRING),
            _field("item", 2, item_ref[1], item_ref[0]),
            _field("request_id", 3, FieldProto.TYPE_STRING),
        ]
    )
    file.message_type.add(name="DeleteItemRequest").field.append(_field("name", 1, FieldProto.TYPE_STRING))
    file.message_type.add(name="ItemResponse").field.append(_field("item", 1, item_ref[1], item_ref[0]))

    service = file.service.add(name="ShopService")
    _method(service, "GetItem", "GetItemRequest", http_pb2.HttpRule(get="/v1/shops/{shop}/items/{item.sku}"))
    update = http_pb2.HttpRule(patch="/v1/items/{item.sku}", body="item")
    update.additional_bindings.add(put="/v1/items/{item.sku}:replace", body="*")
    _method(service, "UpdateItem", "UpdateItemRequest", update)
    _method(service, "CreateItem", "CreateItemRequest", http_pb2.HttpRule(post="/v1/shops/{shop}/items", body="*"))
    _method(service, "DeleteItem", "DeleteItemRequest", http_pb2.HttpRule(delete="/v1/{name=shops/*/items/*}"))
    _method(service, "SyncItems", "GetItemRequest", None)  # gRPC only

    locations = file.source_code_info.location
    locations.add(path=[6, 0], leading_comments=" The shop's items.\n")
    locations.add(path=[6, 0, 2, 0], leading_comments=" Reads one item. Deleted items too,\n when asked.\n")
    locations.add(path=[4, 1, 2, 0], leading_comments=" Stock keeping unit.\n")

    descriptor_set = descriptor_pb2.FileDescriptorSet()
    for module in (status_pb2, error_details_pb2):
        module.DESCRIPTOR.CopyToProto(descriptor_set.file.add())
    descriptor_set.file.append(file)
    return descriptor_set


SHOP_PERMISSIONS = {
    "/shop.v1.ShopService/GetItem": "items:read",
    "/shop.v1.ShopService/UpdateItem": "items:write",
    "/shop.v1.ShopService/CreateItem": "items:write",
    "/shop.v1.ShopService/DeleteItem": PUBLIC,
}


@pytest.fixture(scope="module")
def shop() -> dict[str, Any]:
    return walker.build_document(_shop_descriptor_set(), SHOP_PERMISSIONS)


def _parameters(operation: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["name"], p["in"]) for p in operation.get("parameters", [])]


def test_walker_output_is_valid_and_leaves_out_rpcs_without_a_route(shop):
    validate(shop)
    ids = sorted(operation["operationId"] for _, _, operation in _operations(shop))
    assert ids == [
        "ShopService_CreateItem",
        "ShopService_DeleteItem",
        "ShopService_GetItem",
        "ShopService_UpdateItem",
        "ShopService_UpdateItem2",
    ]


def test_walker_get_binds_the_path_and_queries_every_other_scalar(shop):
    operation = shop["paths"]["/v1/shops/{shop}/items/{sku}"]["get"]
    assert _parameters(operation) == [
        ("shop", "path"),
        ("sku", "path"),
        ("item.quantity", "query"),
        ("item.kind", "query"),
        ("item.price.amount", "query"),
        ("item.price.currency", "query"),
        ("item.tags", "query"),
        ("item.create_time", "query"),
        ("item.rank", "query"),
        ("include_deleted", "query"),
    ]  # not the map `item.labels` nor the repeated message `item.history`
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["sku"]["description"].startswith("Stock keeping unit.")
    assert "`item.sku`" in parameters["sku"]["description"]
    assert parameters["item.quantity"]["schema"] == {"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$"}
    assert parameters["item.kind"]["schema"] == {"$ref": "#/components/schemas/shop.v1.Kind"}
    assert parameters["item.tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert parameters["item.create_time"]["schema"] == {"type": "string", "format": "date-time"}
    assert "requestBody" not in operation
    assert operation["summary"] == "Reads one item."
    assert operation["description"].startswith("Reads one item. Deleted items too,\nwhen asked.")
    assert operation["x-required-permission"] == "items:read"


def test_walker_named_body_is_that_field_and_the_rest_is_query(shop):
    operation = shop["paths"]["/v1/items/{sku}"]["patch"]
    assert _parameters(operation) == [("sku", "path"), ("update_mask", "query"), ("request_id", "query")]
    body = operation["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"]["allOf"] == [
        {"$ref": "#/components/schemas/shop.v1.Item.Patch"}
    ]


def test_walker_additional_binding_is_its_own_operation(shop):
    operation = shop["paths"]["/v1/items/{sku}:replace"]["put"]
    assert operation["operationId"] == "ShopService_UpdateItem2"
    assert _parameters(operation) == [("sku", "path")]  # body "*": nothing left for the query
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/shop.v1.UpdateItemRequest"}


def test_walker_body_star_drops_the_path_fields(shop):
    operation = shop["paths"]["/v1/shops/{shop}/items"]["post"]
    assert _parameters(operation) == [("shop", "path")]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert list(schema["properties"]) == ["item", "request_id"]


def test_walker_path_patterns_become_plain_variables(shop):
    operation = shop["paths"]["/v1/{name}"]["delete"]
    (parameter,) = operation["parameters"]
    assert (parameter["name"], parameter["in"], parameter["required"]) == ("name", "path", True)
    assert "shops/*/items/*" in parameter["description"]
    assert operation["security"] == []
    assert "401" not in operation["responses"]


def test_walker_schemas_follow_proto3_json(shop):
    schemas = shop["components"]["schemas"]
    item = schemas["shop.v1.Item"]["properties"]
    assert item["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert item["history"] == {"type": "array", "items": {"$ref": "#/components/schemas/shop.v1.Money"}}
    assert item["rank"]["type"] == "integer" and "Optional" in item["rank"]["description"]
    assert "x-oneof" not in schemas["shop.v1.Item"]  # `optional` is a synthetic oneof, not a choice
    assert schemas["shop.v1.Money"]["properties"]["amount"] == {
        "type": "string",
        "format": "int64",
        "pattern": "^-?[0-9]{1,19}$",
    }
    assert schemas["shop.v1.Kind"] == {"type": "string", "enum": ["KIND_UNSPECIFIED", "KIND_BOOK"]}
    assert "shop.v1.Item.LabelsEntry" not in schemas
    assert "shop.v1.GetItemRequest" not in schemas  # fully split into parameters
    assert shop["components"]["responses"]["NotFound"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/google.rpc.Status"
    }


def test_walker_refuses_two_rpcs_on_one_route():
    descriptor_set = _shop_descriptor_set()
    service = descriptor_set.file[-1].service[0]
    _method(service, "GetItemAgain", "GetItemRequest", http_pb2.HttpRule(get="/v1/shops/{shop}/items/{item.sku}"))
    with pytest.raises(ValueError, match="bound to two RPCs"):
        walker.build_document(descriptor_set, SHOP_PERMISSIONS)


# ---- the contract a generator or fuzzer relies on ----


def _content(body: dict[str, Any]) -> dict[str, Any]:
    """JSON, or a CSV file (DataExchangeService's raw bodies: text/csv out, octet-stream in), never both."""
    kinds = ("application/json", "text/csv", "application/octet-stream")
    (content,) = [body["content"][kind] for kind in kinds if kind in body["content"]]
    return content


def test_every_operation_has_an_example_and_its_error_responses(document):
    for path, verb, operation in _operations(document):
        ok = operation["responses"]["200"]
        assert "example" in _content(ok), f"{verb} {path}"
        assert ok["headers"]["x-request-id"] == {"$ref": "#/components/headers/x-request-id"}
        if "requestBody" in operation:
            assert "example" in _content(operation["requestBody"]), f"{verb} {path}"
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert "example" in parameter, f"{verb} {path} {parameter['name']}"
        assert {"400", "404", "429", "503", "default"} <= set(operation["responses"]), f"{verb} {path}"
    for name, response in document["components"]["responses"].items():
        content = response["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/google.rpc.Status"}, name
        assert content["example"]["details"][0]["metadata"]["request_id"], name
        assert "x-request-id" in response["headers"], name


def test_too_many_requests_declares_retry_after(document):
    headers = document["components"]["responses"]["ResourceExhausted"]["headers"]
    assert headers["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}
    assert document["components"]["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_examples_conform_to_their_schemas(document):
    """Examples are sent by fuzzers and copied by readers, so each must be valid for its own schema."""

    def check(schema: dict[str, Any], example: Any, where: str) -> None:
        # OpenAPI 3.0 schemas are (nearly) JSON Schema draft 4; the refs resolve inside the document's components.
        validator = Draft4Validator({**schema, "components": document["components"]})
        errors = [error.message for error in validator.iter_errors(example)]
        assert not errors, (where, errors[:3])

    checked = 0
    for path, verb, operation in _operations(document):
        content = _content(operation["responses"]["200"])
        check(content["schema"], content["example"], f"{verb} {path} 200")
        checked += 1
        if "requestBody" in operation:
            body = _content(operation["requestBody"])
            check(body["schema"], body["example"], f"{verb} {path} body")
            checked += 1
        for parameter in operation.get("parameters", []):
            if "example" in parameter:
                check(parameter["schema"], parameter["example"], f"{verb} {path} {parameter['name']}")
                checked += 1
    assert checked >= 60


def test_field_behavior_becomes_required_and_read_only(document):
    schemas = document["components"]["schemas"]
    voucher = schemas["vauchflow.v1.Voucher"]
    assert voucher["required"] == ["discount"]
    for name in ("id", "redemption_count", "create_time", "update_time"):
        assert voucher["properties"][name]["readOnly"] is True, name
    assert "readOnly" not in voucher["properties"]["max_redemptions"]
    assert "Immutable" in voucher["properties"]["code"]["description"]
    assert schemas["vauchflow.v1.Order"]["required"] == ["amount", "currency"]
    assert schemas["vauchflow.v1.CreateTenantRequest"]["required"] == ["name"]
    assert schemas["vauchflow.v1.CreateApiKeyRequest"]["required"] == ["name", "permissions"]
    assert schemas["vauchflow.v1.WebhookEndpoint"]["required"] == ["url"]
    # body "*" with the code from the path: only the rest is required in the body
    redeem = document["paths"]["/v1/vouchers/{code}:redeem"]["post"]["requestBody"]
    assert redeem["required"] is True
    assert redeem["content"]["application/json"]["schema"]["required"] == ["order"]
    for patch in ("vauchflow.v1.Voucher.Patch", "vauchflow.v1.Tenant.Patch", "vauchflow.v1.WebhookEndpoint.Patch"):
        assert "required" not in schemas[patch], patch


def test_bounds_are_the_servers(document):
    from vauchflow_server import pagination, vouchers

    for path, verb, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "page_size":
                schema = parameter["schema"]
                assert (schema["minimum"], schema["maximum"]) == (0, pagination.MAX_PAGE_SIZE), f"{verb} {path}"
    schemas = document["components"]["schemas"]
    amount = re.compile(schemas["vauchflow.v1.Order"]["properties"]["amount"]["pattern"])
    assert amount.match("0") and amount.match(str(vouchers.MAX_AMOUNT)) and amount.match("4999")
    assert not amount.match(str(vouchers.MAX_AMOUNT + 1)) and not amount.match("-1") and not amount.match("01")
    percent = schemas["vauchflow.v1.Discount"]["properties"]["percent_off"]
    assert (percent["minimum"], percent["maximum"]) == (1, 100)
    assert re.match(schemas["vauchflow.v1.Order"]["properties"]["currency"]["pattern"], "EUR")
    code = document["paths"]["/v1/vouchers/{code}"]["get"]["parameters"][0]["schema"]
    assert re.match(code["pattern"], "SUMMER-25") and not re.match(code["pattern"], "has space")


def test_every_int64_is_a_string_with_a_pattern(document):
    def walk(node: Any, where: str) -> int:
        found = 0
        if isinstance(node, dict):
            if node.get("format") in ("int64", "uint64") and node.get("type") == "string":
                assert "pattern" in node, where
                found += 1
            for key, value in node.items():
                found += walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                found += walk(value, f"{where}/{index}")
        return found

    assert walk(document, "#") >= 15


@pytest.mark.parametrize(("low", "high"), [(0, 10**12), (1, 10**9), (0, 10), (1, 10)])
def test_decimal_pattern_holds_exactly_the_range(low, high):
    pattern = re.compile(walker._decimal_pattern(low, high))
    for number in (low, low + 1, high // 2, high - 1, high):
        assert pattern.match(str(number)), number
    for text in (str(low - 1), str(high + 1), str(high * 10), "0" + str(high), "1.5", "", " 1", "+1"):
        assert not pattern.match(text), text


def test_walker_carries_field_behavior_and_writes_plain_path_names():
    descriptor_set = _shop_descriptor_set()
    item = next(message for message in descriptor_set.file[-1].message_type if message.name == "Item")
    behaviors = {"sku": field_behavior_pb2.REQUIRED, "create_time": field_behavior_pb2.OUTPUT_ONLY}
    for field in item.field:
        if field.name in behaviors:
            field.options.Extensions[field_behavior_pb2.field_behavior].append(behaviors[field.name])
    document = walker.build_document(descriptor_set, SHOP_PERMISSIONS)
    validate(document)
    schemas = document["components"]["schemas"]
    assert schemas["shop.v1.Item"]["required"] == ["sku"]
    assert schemas["shop.v1.Item"]["properties"]["create_time"]["readOnly"] is True
    assert "required" not in schemas["shop.v1.Item.Patch"]  # the PATCH body (the request has an update_mask)
    # GET and PATCH of one item would be one path item if their templates agreed; here they are distinct paths.
    assert set(document["paths"]) >= {"/v1/shops/{shop}/items/{sku}", "/v1/items/{sku}", "/v1/items/{sku}:replace"}


def test_walker_refuses_two_path_variables_with_one_plain_name():
    with pytest.raises(ValueError, match="share the parameter name"):
        walker.openapi_path("/v1/shops/{shop.id}/items/{item.id}")


def test_lists_of_known_names_are_enums(document):
    from vauchflow_core.events import EVENT_TYPES
    from vauchflow_core.permissions import ALL_PERMISSIONS

    schemas = document["components"]["schemas"]
    permissions = schemas["vauchflow.v1.CreateApiKeyRequest"]["properties"]["permissions"]
    assert permissions["items"]["enum"] == list(ALL_PERMISSIONS) and permissions["minItems"] == 1
    (types,) = [p for p in document["paths"]["/v1/events"]["get"]["parameters"] if p["name"] == "types"]
    assert types["schema"]["items"]["enum"] == list(EVENT_TYPES)
