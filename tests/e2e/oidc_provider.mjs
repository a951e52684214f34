// An OpenID Connect provider for the console's sign-in journey: node-oidc-provider
// (npm), a certified implementation, with its development login and consent pages
// (any login, any password). It issues JWT access tokens for Tideway's resource URL
// carrying the tenant and role claims Tideway reads, signed with its own keys, which
// Tideway fetches from its JWKS endpoint.
//
// Environment: OIDC_PROVIDER (the oidc-provider package folder), CLIENT_ID,
// CLIENT_SECRET, REDIRECT_URI, RESOURCE (Tideway's resource URL), ROLES. Prints
// "listening on <issuer>" once it answers.
import { createServer } from "node:net";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const { default: Provider, errors } = await import(
  pathToFileURL(join(process.env.OIDC_PROVIDER, "lib", "index.js")).href
);

// A free loopback port: the issuer names its own port.
const port = await new Promise((resolve) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});
const issuer = `http://127.0.0.1:${port}`;
const resource = process.env.RESOURCE;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  scopes: ["openid", "tideway"],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, indicator) {
        if (indicator !== resource) throw new errors.InvalidTarget();
        return { scope: "tideway", accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } } };
      },
    },
  },
  async extraTokenClaims() {
    return { tenant: "default", roles: process.env.ROLES };
  },
});

provider.listen(port, "127.0.0.1", () => {
  console.log(`listening on ${issuer}`);
});
