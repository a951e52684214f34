// A local OAuth 2.1 authorization server for the end-to-end tests, built on the
// oauth2-mock-server package: RS256 keys served as a JWKS, authorization code with
// PKCE. Access tokens are issued for the resource the client names (RFC 8707
// `resource`, sent to the authorize and token endpoints), for the tenant and roles
// the test asks for through the `scope` it requests.
//
// Usage: node oauth_server.mjs <path to oauth2-mock-server's index.mjs>
// Prints `issuer <url>` once listening; stops on SIGTERM.

const { OAuth2Server } = await import(process.argv[2]);

const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");

const resourceByCode = new Map();
server.service.on("beforeAuthorizeRedirect", (authorizeRedirectUri, req) => {
  const url = new URL(req.url, "http://localhost");
  const code = authorizeRedirectUri.url.searchParams.get("code");
  if (code && url.searchParams.get("resource")) {
    resourceByCode.set(code, url.searchParams.get("resource"));
  }
});

server.service.on("beforeTokenSigning", (token, req) => {
  const body = req.body ?? {};
  const resource = body.resource ?? resourceByCode.get(body.code);
  if (resource) token.payload.aud = resource;
  // The test encodes who it is in the scope: "tenant:<id> tideway:<role>".
  const scope = String(body.scope ?? token.payload.scope ?? "");
  for (const part of scope.split(" ")) {
    if (part.startsWith("tenant:")) token.payload.tenant = part.slice("tenant:".length);
  }
  token.payload.roles = scope;
  token.payload.sub = "alice";
});

await server.start(0, "127.0.0.1");
console.log(`issuer ${server.issuer.url}`);
process.on("SIGTERM", async () => {
  await server.stop();
  process.exit(0);
});
