"""End-to-end: the cloud toolkit on a real `tideway serve --toolkit cloud` against moto's
S3 + SSM + Lambda emulator (started by the test command), through the official MCP
Python SDK in both protocol eras and over REST with two tenants' API keys. boto3, a
client nobody here wrote, checks what landed in the emulator."""

import json
import os
import subprocess
import uuid

import boto3
import httpx2 as httpx
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio

ENDPOINT = os.environ.get("TIDEWAY_TEST_S3_ENDPOINT")
SECRET = "e2e-cloud-secret-41f7"


def _require_emulator():
    if not ENDPOINT:
        assert not os.environ.get("TIDEWAY_REQUIRE_S3"), "TIDEWAY_REQUIRE_S3 is set but TIDEWAY_TEST_S3_ENDPOINT is not"
        pytest.skip("no S3 emulator (the test command starts one)")


def _boto(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="tideway", aws_secret_access_key=SECRET)


def _cli(binary, data_dir, *args):
    done = subprocess.run([binary, *args, "--data-dir", data_dir], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def cloud(binary, data_dir, tmp_path):
    _require_emulator()
    config = tmp_path / "tideway.toml"
    config.write_text('[cloud]\nallow = ["127.0.0.1"]\n')
    keys = {
        tenant: _cli(binary, data_dir, "keys", "create", "--tenant", tenant, "--role", "admin", "--name", f"{tenant} admin")
        for tenant in ("acme", "globex")
    }
    process, base = _serve(binary, data_dir, "cloud", extra=["--config", str(config)], serve_args=("--auth", "api-key"))
    yield base, keys
    _stop(process)


def _client(url, mode, token):
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return Client(streamable_http_client(url, http_client=http), mode=mode)


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_an_agent_keeps_attachments_reads_configuration_and_runs_a_function(cloud, mode):
    base, keys = cloud
    bucket = f"attachments-{uuid.uuid4().hex[:10]}"
    _boto("s3").create_bucket(Bucket=bucket)
    function = f"process-customer-feedback-{uuid.uuid4().hex[:6]}"
    iam = _boto("iam")
    role = iam.create_role(RoleName=f"r-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    _boto("lambda").create_function(FunctionName=function, Runtime="python3.12", Role=role, Handler="f.h",
                                    Code={"ZipFile": b"code"}, Description="Scores feedback")
    parameter = f"/support/{uuid.uuid4().hex[:8]}/escalation-email"
    _boto("ssm").put_parameter(Name=parameter, Value="escalations@acme.test", Type="String")

    async with _client(f"{base}/mcp/cloud", mode, keys["acme"]) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"s3_upload_file", "s3_download_file", "lambda_invoke", "get_parameter_store_value"} <= set(tools)
        assert tools["s3_delete_object"].annotations.destructive_hint is True
        assert tools["s3_list_objects"].annotations.read_only_hint is True
        stored = await client.call_tool("set_account", {"name": "main", "account": {
            "endpoint": ENDPOINT, "access_key_id": "tideway", "secret_access_key": SECRET}})
        assert not stored.is_error, stored
        up = await client.call_tool("s3_upload_file", {"bucket": bucket, "key": "t-7/screenshot.txt",
                                                        "content": "the app crashes on login"})
        assert not up.is_error, up
        body = _boto("s3").get_object(Bucket=bucket, Key="t-7/screenshot.txt")["Body"].read()
        assert body == b"the app crashes on login"
        down = await client.call_tool("s3_download_file", {"bucket": bucket, "key": "t-7/screenshot.txt"})
        assert down.structured_content["content"] == "the app crashes on login"
        escaped = await client.call_tool("s3_upload_file", {"bucket": bucket, "key": "../other/x", "content": "x"})
        assert escaped.is_error and "key" in escaped.content[0].text
        value = await client.call_tool("get_parameter_store_value", {"name": parameter})
        assert value.structured_content["value"] == "escalations@acme.test"
        invoked = await client.call_tool("lambda_invoke", {"function_name": function, "payload": {"ticket": 7}})
        assert not invoked.is_error, invoked
        assert invoked.structured_content["payload"] == {"ticket": 7}
        listed = await client.call_tool("list_accounts", {})
        assert SECRET not in json.dumps(listed.structured_content)
        resources = {str(resource.uri) for resource in (await client.list_resources()).resources}
        assert {"aws://s3/buckets", "aws://lambda/functions", "aws://ssm/parameters"} <= resources
        names = await client.read_resource("aws://ssm/parameters")
        text = names.contents[0].text
        assert parameter in text and "escalations@acme.test" not in text
        small = await client.read_resource(f"aws://s3/{bucket}/t-7/screenshot.txt")
        assert small.contents[0].text == "the app crashes on login"


async def test_rest_serves_the_same_tools_and_keeps_tenants_apart(cloud):
    base, keys = cloud
    bucket = f"tickets-{uuid.uuid4().hex[:10]}"
    _boto("s3").create_bucket(Bucket=bucket)
    acme = {"Authorization": f"Bearer {keys['acme']}"}
    globex = {"Authorization": f"Bearer {keys['globex']}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        stored = await http.post("/api/v1/cloud/set_account", headers=acme, json={"name": "main", "account": {
            "endpoint": ENDPOINT, "access_key_id": "tideway", "secret_access_key": SECRET, "buckets": ["tickets-*"]}})
        assert stored.status_code == 200, stored.text
        up = await http.post("/api/v1/cloud/s3_upload_file", headers=acme,
                             json={"bucket": bucket, "key": "a.txt", "content": "hello"})
        assert up.status_code == 200, up.text
        assert up.json()["size"] == 5
        listed = await http.post("/api/v1/cloud/s3_list_objects", headers=acme, json={"bucket": bucket})
        assert [entry["key"] for entry in listed.json()["objects"]] == ["a.txt"]
        # Outside the account's patterns: a 404, the same as a bucket that does not exist.
        outside = await http.post("/api/v1/cloud/s3_list_objects", headers=acme, json={"bucket": "tideway-test"})
        assert outside.status_code == 404, outside.text
        assert outside.headers["content-type"].startswith("application/problem+json")
        # The other tenant has no account and cannot name acme's.
        theirs = await http.post("/api/v1/cloud/s3_list_objects", headers=globex,
                                 json={"account": "main", "bucket": bucket})
        assert theirs.status_code == 404, theirs.text
        assert bucket not in theirs.text
        accounts = await http.post("/api/v1/cloud/list_accounts", headers=globex, json={})
        assert accounts.json()["accounts"] == []
        bad = await http.post("/api/v1/cloud/s3_download_file", headers=acme, json={"bucket": bucket})
        assert bad.status_code == 422 and "key" in bad.text
        unknown = await http.post("/api/v1/cloud/s3_teleport", headers=acme, json={})
        assert unknown.status_code == 404 and "s3_upload_file" in unknown.text
        doc = (await http.get("/openapi.json")).json()
        assert "/api/v1/cloud/{operation}" in doc["paths"]


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_a_picked_lambda_function_is_a_tool_of_its_own_for_its_tenant_only(cloud, mode):
    base, keys = cloud
    # Its own region: no other test's queued Lambda results reach it.
    region = "eu-west-3"
    stem = f"e2e-{uuid.uuid4().hex[:8]}"
    function = f"{stem}-process-customer-feedback"
    tool = function.replace("-", "_")
    options = dict(endpoint_url=ENDPOINT, region_name=region,
                   aws_access_key_id="tideway", aws_secret_access_key=SECRET)
    role = boto3.client("iam", **options).create_role(
        RoleName=f"r-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda", **options).create_function(
        FunctionName=function, Runtime="python3.12", Role=role, Handler="f.h",
        Code={"ZipFile": b"code"}, Description="Scores a customer's feedback")

    async with _client(f"{base}/mcp/cloud", mode, keys["acme"]) as client:
        stored = await client.call_tool("set_account", {"name": "functions", "account": {
            "region": region, "endpoint": ENDPOINT, "access_key_id": "tideway",
            "secret_access_key": SECRET, "function_tools": [f"{stem}-*"]}})
        assert not stored.is_error, stored
        assert stored.structured_content["function_tools"] == [tool]

    async with _client(f"{base}/mcp", mode, keys["acme"]) as client:
        tools = {listed.name: listed for listed in (await client.list_tools()).tools}
        assert tool in tools, sorted(tools)
        assert "Scores a customer's feedback" in tools[tool].description
        assert tools[tool].annotations.read_only_hint is False
        result = await client.call_tool(tool, {"ticket": 7, "text": "slow delivery"})
        assert not result.is_error, result
        assert result.structured_content["payload"] == {"ticket": 7, "text": "slow delivery"}

    async with _client(f"{base}/mcp", mode, keys["globex"]) as client:
        assert tool not in {listed.name for listed in (await client.list_tools()).tools}
        # Unknown to this tenant: a protocol error, or an error result in some SDKs.
        with pytest.raises(Exception) as failure:
            refused = await client.call_tool(tool, {"ticket": 7})
            assert refused.is_error, refused
            raise RuntimeError(refused.content[0].text)
        assert failure.type is not AssertionError, failure.value
        assert "unknown tool" in str(failure.value), failure.value
        # The refusal does not spell out the owner's toolkit, which names its tenant.
        assert "acme" not in str(failure.value), failure.value
