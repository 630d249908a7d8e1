// A real OpenID provider (npm `oidc-provider`) on loopback, for Registervakt's black-box
// OIDC tests (SECURITY_BAR A7). Test-only: it signs in as `alice` without asking anything.
//
// Environment:
//   PORT           port to listen on, 0 (default) = let the OS pick one
//   CLIENT_ID      the confidential client's id            (default "registervakt")
//   CLIENT_SECRET  its secret                              (default "registervakt-secret")
//   REDIRECT_URI   its only redirect URI                   (default "http://127.0.0.1:9/callback")
// A second confidential client `${CLIENT_ID}-other` / `${CLIENT_SECRET}-other`, with the same
// redirect URI, exists for cross-client tests.
//
// Behaviour:
//   * issuer `http://127.0.0.1:<port>`; prints exactly one line `READY <issuer>` on stdout
//     once listening; exits when stdin closes, on SIGTERM or on SIGINT.
//   * PKCE required for every client (RFC 7636); ID tokens signed RS256 with an RSA key
//     generated at start (OpenID Connect Core 1.0 §10.1).
//   * The interaction endpoint finishes the login at once as account `alice` and grants the
//     requested scopes. `login_hint=mfa` on the authorization request gives
//     amr ["pwd","otp"] and acr LOA3, anything else amr ["pwd"] and acr LOA2
//     (acr values of the Swedish eID framework, http://id.elegnamnden.se/loa/1.0/).
//
// It must never be used outside tests: there is no authentication at all.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const LOA2 = 'http://id.elegnamnden.se/loa/1.0/loa2';
const LOA3 = 'http://id.elegnamnden.se/loa/1.0/loa3';
const ACCOUNT = 'alice';

const port = Number.parseInt(process.env.PORT ?? '0', 10);
const clientId = process.env.CLIENT_ID ?? 'registervakt';
const clientSecret = process.env.CLIENT_SECRET ?? 'registervakt-secret';
const redirectUri = process.env.REDIRECT_URI ?? 'http://127.0.0.1:9/callback';

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: randomBytes(8).toString('hex'),
    alg: 'RS256',
    use: 'sig',
  };
}

function confidentialClient(id, secret) {
  return {
    client_id: id,
    client_secret: secret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  };
}

function configuration() {
  return {
    clients: [
      confidentialClient(clientId, clientSecret),
      confidentialClient(`${clientId}-other`, `${clientSecret}-other`),
    ],
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    acrValues: [LOA2, LOA3],
    scopes: ['openid', 'email', 'profile'],
    // acr and amr ride on the openid scope so every ID token carries them (Core 1.0 §2).
    claims: {
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      if (sub !== ACCOUNT) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, email: 'alice@example.org', email_verified: true, name: 'Alice' };
        },
      };
    },
    // The ID token also carries the scope claims (email), so the tests can see them there.
    conformIdTokenClaims: false,
  };
}

// Finishes an interaction at once: login as alice with test-chosen acr/amr, then consent to
// everything that was asked for.
async function finishInteraction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { params, prompt } = details;
  const mfa = params.login_hint === 'mfa';
  const result = {};
  if (prompt.name === 'login') {
    result.login = {
      accountId: ACCOUNT,
      acr: mfa ? LOA3 : LOA2,
      amr: mfa ? ['pwd', 'otp'] : ['pwd'],
    };
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: ACCOUNT, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope ?? 'openid'));
  result.consent = { grantId: await grant.save() };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

function fail(res, err) {
  process.stderr.write(`interaction failed: ${err?.stack ?? err}\n`);
  if (!res.headersSent) {
    res.statusCode = 500;
    res.end('interaction failed');
  }
}

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration());
  const oidc = provider.callback();
  server.on('request', (req, res) => {
    if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
      finishInteraction(provider, req, res).catch((err) => fail(res, err));
    } else {
      oidc(req, res);
    }
  });
  process.stdout.write(`READY ${issuer}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
// Whoever started us stopped listening: a write to a closed pipe must not crash the provider.
process.stdout.on('error', () => {});
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
