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
//     requested scopes. `login_hint` on the authorization request is a comma-separated list
//     that steers it, as a test's stand-in for what a person does at a real provider:
//       mfa          amr ["pwd","otp"] and acr LOA3 (else amr ["pwd"] and acr LOA2; acr values
//                    of the Swedish eID framework, http://id.elegnamnden.se/loa/1.0/)
//       level=X      the `registrationLevel` claim is X (e.g. PLUS, BASIC)
//       old          the authentication happened an hour ago (auth_time)
//       cancel       the user cancels: the callback gets error=access_denied
//       sub=S        sign in as account S instead of alice
//   * BROKER=method makes it a broker that puts the *method* in acr
//     (urn:grn:authn:se:frejaid) and the level in `registrationLevel`, signs ES256, and adds
//     a personal identity number claim (https://id.oidc.se/claim/personalIdentityNumber) to
//     every ID token, as some Swedish brokers do.
//   * POST /test/rotate replaces the signing key with a new one under a new kid (the JWKS
//     then publishes only the new key), as a provider rotating its keys does.
//   * The `claims` request parameter is supported; like a lax real broker, it answers with
//     whatever level the login had, also when another was asked for as essential.
//
// It must never be used outside tests: there is no authentication at all.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider, { interactionPolicy } from 'oidc-provider';

const LOA2 = 'http://id.elegnamnden.se/loa/1.0/loa2';
const LOA3 = 'http://id.elegnamnden.se/loa/1.0/loa3';
const FREJA = 'urn:grn:authn:se:frejaid';
const PNR_CLAIM = 'https://id.oidc.se/claim/personalIdentityNumber';
const PNR = '195307279878';
const ACCOUNT = 'alice';
const METHOD_BROKER = process.env.BROKER === 'method';
const ALG = METHOD_BROKER ? 'ES256' : 'RS256';
// What the last interaction decided, read when the ID token's claims are assembled.
let lastLevel;

const port = Number.parseInt(process.env.PORT ?? '0', 10);
const clientId = process.env.CLIENT_ID ?? 'registervakt';
const clientSecret = process.env.CLIENT_SECRET ?? 'registervakt-secret';
const redirectUri = process.env.REDIRECT_URI ?? 'http://127.0.0.1:9/callback';

function signingKey() {
  const { privateKey } = METHOD_BROKER
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: randomBytes(8).toString('hex'),
    alg: ALG,
    use: 'sig',
  };
}

// The login prompt without the checks that would ask again for a level or an age the login
// did not reach: the relying party must check those itself.
function policy() {
  const base = interactionPolicy.base();
  const login = base.get('login');
  for (const check of ['essential_acrs', 'essential_acr']) login.checks.remove(check);
  return base;
}

const cookieKeys = [randomBytes(32).toString('hex')];

function confidentialClient(id, secret) {
  return {
    client_id: id,
    client_secret: secret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: ALG,
  };
}

function configuration(keys) {
  return {
    clients: [
      confidentialClient(clientId, clientSecret),
      confidentialClient(`${clientId}-other`, `${clientSecret}-other`),
    ],
    jwks: { keys },
    cookies: { keys: cookieKeys },
    pkce: { required: () => true },
    acrValues: [LOA2, LOA3, FREJA],
    scopes: ['openid', 'email', 'profile'],
    // acr, amr and the broker's claims ride on the openid scope so every ID token carries
    // them (Core 1.0 §2).
    claims: {
      openid: ['sub', 'acr', 'amr', 'auth_time', 'registrationLevel', PNR_CLAIM],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    features: { devInteractions: { enabled: false }, claimsParameter: { enabled: true } },
    interactions: {
      policy: policy(),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async findAccount(_ctx, sub) {
      if (sub !== ACCOUNT && sub !== PNR) return undefined;
      return {
        accountId: sub,
        async claims() {
          const claims = { sub, email: 'alice@example.org', email_verified: true, name: 'Alice' };
          if (lastLevel !== undefined) claims.registrationLevel = lastLevel;
          if (METHOD_BROKER) claims[PNR_CLAIM] = PNR;
          return claims;
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
  const hints = String(params.login_hint ?? '').split(',');
  const hint = (name) => hints.find((h) => h.startsWith(`${name}=`))?.slice(name.length + 1);
  if (hints.includes('cancel')) {
    const cancelled = { error: 'access_denied', error_description: 'End-User aborted interaction' };
    await provider.interactionFinished(req, res, cancelled, { mergeWithLastSubmission: false });
    return;
  }
  const mfa = hints.includes('mfa');
  const account = hint('sub') ?? ACCOUNT;
  lastLevel = hint('level');
  const result = {};
  if (prompt.name === 'login') {
    const now = Math.floor(Date.now() / 1000);
    result.login = {
      accountId: account,
      acr: METHOD_BROKER ? FREJA : (mfa ? LOA3 : LOA2),
      amr: mfa ? ['pwd', 'otp'] : ['pwd'],
      ts: hints.includes('old') ? now - 3600 : now,
    };
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: account, clientId: params.client_id });
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
  let provider = new Provider(issuer, configuration([signingKey()]));
  let oidc = provider.callback();
  server.on('request', (req, res) => {
    if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
      finishInteraction(provider, req, res).catch((err) => fail(res, err));
    } else if (req.method === 'POST' && req.url === '/test/rotate') {
      // The in-memory store is shared by provider instances, so logins in flight survive.
      provider = new Provider(issuer, configuration([signingKey()]));
      oidc = provider.callback();
      res.end('rotated');
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
