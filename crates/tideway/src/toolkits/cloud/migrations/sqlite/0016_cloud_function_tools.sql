-- Lambda functions a stored account serves as MCP tools of their own: `function_tools`
-- is a JSON array of name patterns, `function_tool_tag` a tag key. Kept in step with
-- ../postgres/0016_cloud_function_tools.sql. An Azure account (kind 'azure') keeps its
-- storage account's name in `access_key_id` and its sealed key in `secret`.
ALTER TABLE cloud_accounts ADD COLUMN function_tools TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cloud_accounts ADD COLUMN function_tool_tag TEXT;
