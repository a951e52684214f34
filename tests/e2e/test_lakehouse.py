"""End-to-end: a file uploaded to the lakehouse over REST is a Delta table that an
independent reader (the `deltalake` package from PyPI, which Spark- and
Databricks-compatible tooling builds on) opens with the same rows and types, and SQL
over MCP answers from it."""

import os
import uuid

import httpx2 as httpx
import pytest
from deltalake import DeltaTable
from mcp.client.client import Client

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio

CSV = b"Order ID,Customer,Amount,Paid\n1,ada,10.5,true\n2,grace,20.25,false\n3,ada,5.0,true\n"


@pytest.fixture
def lake_server(binary, data_dir):
    process, base = _serve(binary, data_dir, "lakehouse")
    yield base, data_dir
    _stop(process)


async def test_an_uploaded_file_is_a_delta_table_others_can_read(lake_server):
    base, data_dir = lake_server
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{base}/api/v1/lakehouse/upload",
            files={"file": ("orders.csv", CSV, "text/csv")},
            data={"dataset_name": "orders"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["rows"] == 3
        appended = await http.post(
            f"{base}/api/v1/lakehouse/upload",
            files={"file": ("more.csv", b"Order ID,Customer,Amount,Paid\n4,alan,1.5,false\n", "text/csv")},
            data={"dataset_name": "orders", "mode": "append"},
        )
        assert appended.status_code == 201, appended.text

    table = DeltaTable(os.path.join(data_dir, "lake", "tenant_default", "bronze", "orders"))
    assert table.version() == 1
    arrow = table.to_pyarrow_table().sort_by("order_id")
    data = arrow.to_pydict()
    assert data["order_id"] == [1, 2, 3, 4]
    assert data["customer"] == ["ada", "grace", "ada", "alan"]
    assert data["amount"] == [10.5, 20.25, 5.0, 1.5]
    assert data["paid"] == [True, False, True, False]
    schema = {field.name: str(field.type) for field in arrow.schema}
    assert schema["order_id"] == "int64" and schema["amount"] == "double" and schema["paid"] == "bool"
    first = DeltaTable(os.path.join(data_dir, "lake", "tenant_default", "bronze", "orders"), version=0)
    assert first.to_pyarrow_table().num_rows == 3

    async with Client(f"{base}/mcp", mode="2026-07-28") as client:
        result = await client.call_tool(
            "lakehouse_query_sql",
            {"sql": "SELECT customer, SUM(amount) AS total FROM bronze.orders GROUP BY customer ORDER BY customer"},
        )
        assert not result.is_error, result
        assert result.structured_content["rows"] == [
            {"customer": "ada", "total": 15.5},
            {"customer": "alan", "total": 1.5},
            {"customer": "grace", "total": 20.25},
        ]


@pytest.fixture
def pipeline_server(binary, data_dir):
    process, base = _serve(binary, data_dir, "database", "lakehouse")
    yield base, data_dir
    _stop(process)


async def test_a_synced_postgres_table_and_what_is_made_of_it_read_back_elsewhere(pipeline_server):
    """A PostgreSQL table synced into Bronze over MCP, transformed into Silver and
    summed into Gold: the independent reader sees the same rows with the documented
    types (exact decimals, UTC timestamps, lists, UUIDs as text)."""
    url = os.environ.get("TIDEWAY_TEST_POSTGRES_URL")
    if not url:
        assert not os.environ.get("TIDEWAY_REQUIRE_POSTGRES"), "TIDEWAY_REQUIRE_POSTGRES is set but TIDEWAY_TEST_POSTGRES_URL is not"
        pytest.skip("no PostgreSQL")
    base, data_dir = pipeline_server
    rest = url.split("://", 1)[1]
    user, rest = rest.split("@", 1)
    hostport, database = rest.split("/", 1)
    host, port = hostport.rsplit(":", 1)
    table = f"e2e_orders_{uuid.uuid4().hex[:12]}"
    async with Client(f"{base}/mcp", mode="2026-07-28") as client:
        async def call(tool, arguments):
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, (tool, result)
            return result.structured_content

        await call("database_connect_source", {
            "name": "pg", "kind": "postgres", "host": host, "port": int(port),
            "database": database, "user": user, "ssl_mode": "disable", "read_write": True,
            # The throwaway cluster's only role is a superuser; the local user is the
            # operator and accepts it for this source.
            "allow_privileged_role": True,
        })
        await call("database_execute_statement", {"connection_id": "pg", "query":
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, customer text, amount numeric(12,2), "
            "placed timestamptz NOT NULL, tags text[], ref uuid)"})
        await call("database_execute_statement", {"connection_id": "pg", "query":
            f"INSERT INTO {table} VALUES "
            "(1, ' Ada ', 10.25, '2026-03-01 10:00:00+02', ARRAY['vip'], 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), "
            "(2, 'grace', 20.50, '2026-03-02 12:30:00+00', ARRAY['new', 'eu'], NULL), "
            "(3, 'ada', 0.05, '2026-03-03 00:00:00+00', NULL, NULL)"})
        synced = await call("lakehouse_sync_table_to_bronze", {"connection_id": "pg", "table_name": table})
        assert synced["rows_read"] == 3
        await call("lakehouse_transform_to_silver", {"bronze_table": table, "target_table": "orders",
            "transformations": [{"op": "trim", "columns": ["customer"]}, {"op": "lowercase", "columns": ["customer"]}]})
        await call("lakehouse_create_gold_table", {"table_name": "revenue",
            "sql": "SELECT customer, sum(amount) AS revenue FROM silver.orders GROUP BY customer"})

    lake = os.path.join(data_dir, "lake", "tenant_default")
    bronze = DeltaTable(os.path.join(lake, "bronze", table)).to_pyarrow_table().sort_by("id")
    types = {field.name: str(field.type) for field in bronze.schema}
    assert types["amount"] == "decimal128(12, 2)"
    assert types["placed"] == "timestamp[us, tz=UTC]"
    assert types["tags"].startswith("list<") and "string" in types["tags"]
    assert types["ref"] == "string"
    data = bronze.to_pydict()
    assert [str(a) for a in data["amount"]] == ["10.25", "20.50", "0.05"]
    assert data["placed"][0].isoformat() == "2026-03-01T08:00:00+00:00"
    assert data["tags"] == [["vip"], ["new", "eu"], None]
    assert data["ref"] == ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", None, None]
    silver = DeltaTable(os.path.join(lake, "silver", "orders")).to_pyarrow_table().to_pydict()
    assert sorted(silver["customer"]) == ["ada", "ada", "grace"]
    gold = DeltaTable(os.path.join(lake, "gold", "revenue")).to_pyarrow_table().sort_by("customer").to_pydict()
    assert gold["customer"] == ["ada", "grace"]
    assert [str(r) for r in gold["revenue"]] == ["10.30", "20.50"]
