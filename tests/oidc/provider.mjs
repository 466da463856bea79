// The OpenID provider of the OAuth tests: oidc-provider (OpenID certified), on 127.0.0.1 only, issuing
// client-credentials access tokens as JWTs for the resource (audience) a client asks for.
//
//   node provider.mjs [PORT]      0 or nothing: a free port. Prints one line: "OIDC READY <issuer>".
//
// Clients: test-client / test-secret (dms:read, other:thing), short-client / short-secret (tokens live
// OIDC_SHORT_TTL seconds, default 1), other-client / other-secret (other:thing only).
// POST /__test/rotate?drop=1 starts signing with a new key (and drops the old ones): a key rotation.
import http from 'node:http';
import crypto from 'node:crypto';
import { Provider } from 'oidc-provider';

const SCOPES = ['dms:read', 'other:thing'];
const TTL = Number(process.env.OIDC_TTL || 300);
const SHORT_TTL = Number(process.env.OIDC_SHORT_TTL || 1);

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `key-${crypto.randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };
}

function client(id, secret, scope) {
  return { client_id: id, client_secret: secret, grant_types: ['client_credentials'], response_types: [],
    redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic', scope };
}

let keys = [newKey()];

function provider(issuer) {
  const built = new Provider(issuer, {
    clients: [client('test-client', 'test-secret', SCOPES.join(' ')), client('short-client', 'short-secret', SCOPES.join(' ')),
      client('second-client', 'second-secret', SCOPES.join(' ')), client('other-client', 'other-secret', 'other:thing')],
    jwks: { keys },
    clientDefaults: { id_token_signed_response_alg: 'RS256' },
    scopes: SCOPES,
    cookies: { keys: ['test-cookie-key-not-secret'] },
    clientBasedCORS: () => true,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, c, oneOf) => oneOf,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource, c) => ({
          scope: SCOPES.join(' '),
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: c.clientId === 'short-client' ? SHORT_TTL : TTL,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: {  // defined, so that oidc-provider prints no notice on stdout
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? TTL,
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? TTL,
    },
  });
  built.on('server_error', (ctx, err) => console.error('server_error', err));
  return built.callback();
}

let issuer;
let handler;
const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/__test/rotate')) {
    const drop = new URL(req.url, 'http://x').searchParams.get('drop') === '1';
    keys = [newKey(), ...(drop ? [] : keys)];
    handler = provider(issuer);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ signing_kid: keys[0].kid, kids: keys.map((k) => k.kid) }));
    return;
  }
  handler(req, res);
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  handler = provider(issuer);
  process.stdout.write(`OIDC READY ${issuer}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
