"""End-to-end: the MCP Inspector's CLI (npm `@modelcontextprotocol/inspector`) checks
every tool schema Tideway lists for portability with `--strict`, which exits 6 on any
error-severity problem (a non-standard `format`, a bare `true` where a schema object
belongs). Run against `/mcp` and one `/mcp/{toolkit}` over Streamable HTTP and against
`tideway mcp` over stdio, in both protocol eras."""

import os
import subprocess

import pytest

from conftest import _serve, _stop

INSPECTOR = os.environ.get("TIDEWAY_TEST_INSPECTOR")
NODE = os.environ.get("TIDEWAY_TEST_NODE")
ERAS = ["legacy", "modern"]


@pytest.fixture
def inspector(tmp_path):
    if not INSPECTOR or not NODE:
        if os.environ.get("TIDEWAY_REQUIRE_INSPECTOR"):
            pytest.fail("TIDEWAY_REQUIRE_INSPECTOR is set but the Inspector is not named")
        pytest.skip("the MCP Inspector is not installed (run scripts/test)")

    def run(*target, era):
        # The Inspector keeps a catalog and secrets under HOME; give it a throwaway one.
        environment = dict(os.environ, HOME=str(tmp_path))
        completed = subprocess.run(
            [NODE, INSPECTOR, "--cli", *target, "--method", "tools/list", "--strict",
             "--protocol-era", era, "--format", "json"],
            capture_output=True, text=True, timeout=120, env=environment,
        )
        return completed

    return run


# Every toolkit a user can turn on, files and fetch (off by default) included.
TOOLKITS = ["system", "support", "database", "lakehouse", "prompts", "models", "files", "fetch", "workflows",
            "automation", "messaging"]


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("path", ["/mcp", "/mcp/support"])
def test_tool_schemas_pass_the_inspectors_strict_check_over_http(inspector, binary, data_dir, era, path):
    process, base = _serve(binary, data_dir, *TOOLKITS)
    try:
        checked = inspector(f"{base}{path}", "--transport", "http", era=era)
    finally:
        _stop(process)
    assert checked.returncode == 0, f"exit {checked.returncode}: {checked.stderr[-4000:]}"
    assert '"tools"' in checked.stdout, checked.stdout[:500]
    assert "create_ticket" in checked.stdout, checked.stdout[:500]


@pytest.mark.parametrize("era", ERAS)
def test_tool_schemas_pass_the_inspectors_strict_check_over_stdio(inspector, binary, data_dir, era):
    toolkits = [argument for name in TOOLKITS for argument in ("--toolkit", name)]
    checked = inspector(binary, "mcp", "--data-dir", data_dir, *toolkits, era=era)
    assert checked.returncode == 0, f"exit {checked.returncode}: {checked.stderr[-4000:]}"
    assert "files_read_text_file" in checked.stdout, checked.stdout[:500]
