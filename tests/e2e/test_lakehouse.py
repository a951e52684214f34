"""End-to-end: a file uploaded to the lakehouse over REST is a Delta table that an
independent reader (the `deltalake` package from PyPI, which Spark- and
Databricks-compatible tooling builds on) opens with the same rows and types, and SQL
over MCP answers from it."""

import os

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
