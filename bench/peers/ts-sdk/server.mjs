// TypeScript SDK peer for mcp-bench: an echo tool and a 200-tool catalog over the
// SDK's Streamable HTTP transport, in its stateful (sessions) or stateless mode.
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createMcpExpressApp } from "@modelcontextprotocol/sdk/server/express.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const CATALOG_SIZE = 200;
const port = Number(process.env.PEER_PORT);
const stateless = process.env.PEER_MODE === "stateless";
const catalog = process.env.PEER_CATALOG === "1";

function buildServer() {
  const server = new McpServer({ name: "bench-peer-ts-sdk", version: "1.0.0" });
  server.registerTool(
    "echo",
    { description: "Sends the message back.", inputSchema: { message: z.string() } },
    async ({ message }) => ({ content: [{ type: "text", text: message }] }),
  );
  if (catalog) {
    for (let number = 0; number < CATALOG_SIZE; number++) {
      server.registerTool(
        `catalog_${String(number).padStart(3, "0")}`,
        {
          description: `Generated tool ${number} of ${CATALOG_SIZE} for catalog listing benchmarks: looks up a record by its id and returns a short summary.`,
          inputSchema: {
            record_id: z.string(),
            limit: z.number().int().default(10),
            verbose: z.boolean().default(false),
          },
        },
        async ({ record_id }) => ({ content: [{ type: "text", text: `record ${record_id}` }] }),
      );
    }
  }
  return server;
}

const app = createMcpExpressApp();
const transports = new Map();

app.post("/mcp", async (req, res) => {
  if (stateless) {
    const server = buildServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on("close", () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
    return;
  }
  const sessionId = req.headers["mcp-session-id"];
  let transport = sessionId ? transports.get(sessionId) : undefined;
  if (!transport) {
    if (sessionId || !isInitializeRequest(req.body)) {
      res.status(400).json({
        jsonrpc: "2.0",
        error: { code: -32000, message: "no valid session" },
        id: null,
      });
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (id) => transports.set(id, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId) transports.delete(transport.sessionId);
    };
    await buildServer().connect(transport);
  }
  await transport.handleRequest(req, res, req.body);
});

// GET opens a session's server-to-client stream; DELETE ends the session.
const existingSession = async (req, res) => {
  const transport = transports.get(req.headers["mcp-session-id"]);
  if (!transport) {
    res.status(404).end();
    return;
  }
  await transport.handleRequest(req, res);
};
app.get("/mcp", existingSession);
app.delete("/mcp", existingSession);

app.listen(port, "127.0.0.1", () => console.log("listening"));
