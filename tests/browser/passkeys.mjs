// Passkeys in a real browser (issue 17, item 5; SECURITY_BAR A9): headless Chromium with a
// virtual authenticator from the DevTools WebAuthn domain (CTAP2, internal, resident keys,
// user verification) on `registervakt demo`. Staff enrols a passkey on My account, signs out,
// signs in with password + passkey, and steps up with the passkey to download; an approver
// whose policy asks for a passkey is refused after signing in with a code, adds a passkey,
// confirms with it and approves. axe-core runs on the new pages.
// Driven by tests/it/browser_passkeys.rs, which starts the demo with a policy that asks
// approvers for a passkey and a step-up age of 30 s; by hand:
//   BASE_URL=http://localhost:8080 USERS_FILE=registervakt-demo/demo-users.txt node tests/browser/passkeys.mjs
// (the step-up part then waits the demo's step-up age, five minutes by default).

import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { readFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.BASE_URL || "http://localhost:8080").replace(/\/$/, "");
const USERS_FILE = process.env.USERS_FILE || "registervakt-demo/demo-users.txt";
const SHOTS = process.env.SCREENSHOTS || join(here, "..", "..", "target", "browser-screenshots");
const STEP_UP_SECS = Number(process.env.STEP_UP_SECS || "300");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const AXE = readFileSync(join(here, "node_modules", "axe-core", "axe.min.js"), "utf8");
const DOWNLOADS = join(SHOTS, "downloads");
mkdirSync(DOWNLOADS, { recursive: true });

const problems = [];
function check(ok, message) {
  if (!ok) {
    problems.push(message);
    console.error("FAIL " + message);
  }
  return ok;
}

// --- the demo users and their codes (the same reading as e2e.mjs) ---

function users() {
  const out = {};
  let current = null;
  for (const line of readFileSync(USERS_FILE, "utf8").split("\n")) {
    const m = line.match(/^(\w+):\s+(.*)$/);
    if (!m) continue;
    if (m[1] === "username") {
      current = { username: m[2] };
      out[m[2]] = current;
    } else if (current) {
      current[m[1]] = m[2];
    }
  }
  return out;
}
const USERS = users();

function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1000000;
  return String(n).padStart(6, "0");
}

const lastStep = {};
async function freshCode(username) {
  for (;;) {
    const step = Math.floor(Date.now() / 1000 / 30);
    if (lastStep[username] === undefined || step > lastStep[username]) {
      lastStep[username] = step;
      return totp(USERS[username].secret, step);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

let shot = 0;
async function look(page, name) {
  shot += 1;
  const file = join(SHOTS, `passkeys-${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help }));
  });
  for (const v of result) {
    check(!(v.impact === "serious" || v.impact === "critical"), `${name} (${page.url()}): axe ${v.impact} ${v.id}: ${v.help}`);
  }
  console.log(`ok ${name}: ${page.url()}`);
}

// A page of its own (a browser profile) with a virtual platform authenticator, as a phone's
// or laptop's built-in one: it keeps resident keys and verifies its user.
async function newPage(browser) {
  const context = await browser.newContext({
    acceptDownloads: true,
    locale: "sv-SE",
    viewport: { width: 390, height: 844 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  // A refused page (the 403 that says a passkey is needed) is expected where the walk asks
  // for it; any other failed request is a problem, named by its path.
  page.expected = new Set();
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    if (r.status() >= 400 && !page.expected.has(path)) page.errors.push(`${r.status()} ${path}`);
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  page.authenticator = { cdp, authenticatorId };
  return page;
}

async function password(page, username) {
  await page.goto(BASE + "/login");
  await page.fill("#username", username);
  await page.fill("#password", USERS[username].password);
  await Promise.all([page.waitForURL(/\/login\/code/), page.click('form[action="/login"] button[type=submit]')]);
}

async function signInWithCode(page, username) {
  await password(page, username);
  await page.fill("#code", await freshCode(username));
  await Promise.all([page.waitForURL(/\/start$/), page.click('main form[action="/login/code"] button[type=submit]')]);
}

async function addPasskey(page, name) {
  await page.goto(BASE + "/account");
  await page.fill("#passkey-name", name);
  await Promise.all([
    page.waitForURL(/msg=passkey_saved/),
    page.click('button[data-passkey="register"]'),
  ]);
  check((await page.textContent("#passkeys")).includes(name), `the new passkey ${name} is not listed`);
  const { credentials } = await page.authenticator.cdp.send("WebAuthn.getCredentials", {
    authenticatorId: page.authenticator.authenticatorId,
  });
  check(credentials.length === 1, `the authenticator holds ${credentials.length} credentials`);
}

async function waitForState(page, state) {
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    const now = await page.getAttribute("[data-state]", "data-state").catch(() => null);
    if (now === state) return true;
    await page.waitForTimeout(1000);
    await page.reload();
  }
  return check(false, `extract never reached ${state} at ${page.url()}`);
}

async function request(page, purpose, fields) {
  await page.goto(`${BASE}/extracts/new?purpose=${purpose}&district=Uppsala`);
  for (const box of await page.$$('input[name="fields"]')) {
    const wanted = fields.includes(await box.getAttribute("value"));
    if ((await box.isChecked()) !== wanted) await box.click();
  }
  await page.fill("#justification", "Passkey-test i webbläsaren (browser test).");
  await page.check('input[name="acknowledged"]');
  const code = await page.$("#new-extract #code");
  check(!code, "a session fresh from a passkey sign-in is asked for a code");
  await Promise.all([page.waitForURL(/\/extracts\/[0-9a-f]{8,}/), page.click("#new-extract button[type=submit]")]);
  return new URL(page.url()).pathname.split("/").pop();
}

async function confirmWithPasskey(page, next) {
  await Promise.all([page.waitForURL(/\/confirm\?next=/), page.click(`a[href="/confirm?next=${next}"]`)]);
  await look(page, "confirm");
  await usePasskey(page, next);
}

// Presses "Använd passkey" and waits to arrive at `next`; on failure says what the page says.
async function usePasskey(page, next) {
  try {
    await Promise.all([
      page.waitForURL((u) => u.pathname === next),
      page.click('button[data-passkey="authenticate"]'),
    ]);
  } catch (e) {
    await page.screenshot({ path: join(SHOTS, "passkeys-failed.png"), fullPage: true });
    throw new Error(`no way to ${next} from ${page.url()}: ${(await page.textContent("main")).trim()}; script errors: ${page.errors.join("; ")}`);
  }
}

async function staff(browser) {
  const anna = await newPage(browser);
  await signInWithCode(anna, "anna");
  await addPasskey(anna, "Annas telefon");
  await look(anna, "account-with-passkey");
  await Promise.all([anna.waitForURL(/\/login/), anna.click('form[action="/logout"] button')]);

  // Password, then the passkey instead of a code.
  await password(anna, "anna");
  await look(anna, "code-or-passkey");
  await Promise.all([anna.waitForURL(/\/start$/), anna.click('button[data-passkey="authenticate"]')]);
  const live = await request(anna, "district-assembly-invitation", ["member_id", "first_name", "email"]);
  const pending = await request(anna, "election-worker-recruitment", ["first_name", "phone"]);
  await anna.goto(`${BASE}/extracts/${live}`);
  await waitForState(anna, "live");

  // Past the step-up age the download asks again; the passkey answers.
  await anna.waitForTimeout((STEP_UP_SECS + 2) * 1000);
  await anna.reload();
  await confirmWithPasskey(anna, `/extracts/${live}`);
  check(!(await anna.$("#code-get")), "after the passkey the download still asks for a code");
  const [file] = await Promise.all([
    anna.waitForEvent("download"),
    anna.click('button[name="format"][value="csv"]'),
  ]);
  const path = join(DOWNLOADS, `passkeys-${Date.now()}-${file.suggestedFilename()}`);
  await file.saveAs(path);
  const rows = readFileSync(path, "utf8").trim().split(/\r?\n/);
  check(rows.length > 1, "the downloaded CSV has no rows");
  console.log(`ok staff downloaded ${rows.length - 1} rows after a passkey step-up`);
  check(anna.errors.length === 0, `script errors: ${anna.errors.join("; ")}`);
  await anna.context().close();
  return pending;
}

async function approver(browser, pending) {
  const bertil = await newPage(browser);
  await signInWithCode(bertil, "bertil");
  await bertil.goto(`${BASE}/extracts/${pending}`);
  bertil.expected.add(`/extracts/${pending}/approve`);
  await bertil.click('form[action$="/approve"] button[type=submit]');
  await bertil.waitForLoadState("load");
  const refused = await bertil.textContent("main");
  check(/passkey/i.test(refused) && (await bertil.$('a[href="/account#passkeys"]')) !== null,
    "the approver signed in with a code is not told that a passkey is needed and how to add one");
  check(!(await bertil.$(".state-approved")), "approved with a code");
  await look(bertil, "passkey-required");

  await addPasskey(bertil, "Bertils dator");
  await bertil.goto(`${BASE}/extracts/${pending}`);
  // Fresh from the code, but the policy wants a passkey: confirm with it first.
  await bertil.goto(`${BASE}/confirm?next=/extracts/${pending}`);
  await usePasskey(bertil, `/extracts/${pending}`);
  await Promise.all([
    bertil.waitForURL(/msg=approv/),
    bertil.click('form[action$="/approve"] button[type=submit]'),
  ]);
  console.log(`ok approver approved with a passkey: ${bertil.url()}`);
  check(bertil.errors.length === 0, `script errors: ${bertil.errors.join("; ")}`);
  await bertil.context().close();
}

// A new user accepts the invitation and enrols a passkey instead of the app: the page then
// shows the recovery codes once, and the next sign-in offers the passkey and no code field.
async function newcomer(browser, invitePath) {
  const page = await newPage(browser);
  const password = "Petras-passkey-lösenord-2026!";
  await page.goto(BASE + invitePath);
  await page.fill("#password", password);
  await page.fill("#password_again", password);
  await Promise.all([page.waitForLoadState("load"), page.click('form[action="/invite"] button[type=submit]')]);
  await page.goto(BASE + "/login");
  await page.fill("#username", "petra");
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(/\/enrol/), page.click('form[action="/login"] button[type=submit]')]);
  await page.fill("#passkey-name", "Petras telefon");
  await page.click('button[data-passkey="register"]');
  await page.waitForSelector("[data-passkey-codes]:not([hidden]) li");
  const codes = await page.$$eval("[data-passkey-codes] li", (items) => items.map((i) => i.textContent));
  check(codes.length === 10, `enrolment with a passkey showed ${codes.length} recovery codes`);
  check(!(await page.isVisible("figure.qr")), "the app's QR code is still shown after the passkey");
  await look(page, "enrolled-with-passkey");
  try {
    await Promise.all([page.waitForURL(/\/start$/), page.click("[data-passkey-codes] a")]);
  } catch (e) {
    await page.screenshot({ path: join(SHOTS, "passkeys-failed.png"), fullPage: true });
    throw new Error(`after enrolment: ${page.url()}: ${(await page.textContent("main")).trim().slice(0, 300)}`);
  }
  await Promise.all([page.waitForURL(/\/login/), page.click('form[action="/logout"] button')]);
  await page.fill("#username", "petra");
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(/\/login\/code/), page.click('form[action="/login"] button[type=submit]')]);
  check(!(await page.$("#code")), "a user with only a passkey is asked for an app code");
  await Promise.all([page.waitForURL(/\/start$/), page.click('button[data-passkey="authenticate"]')]);
  console.log("ok newcomer enrolled with a passkey and signed in with it");
  check(page.errors.length === 0, `script errors: ${page.errors.join("; ")}`);
  await page.context().close();
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
try {
  if (process.env.INVITE_PATH) {
    await newcomer(browser, process.env.INVITE_PATH);
  }
  const pending = await staff(browser);
  await approver(browser, pending);
} catch (e) {
  check(false, `the passkey walk broke off: ${e.stack || e}`);
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(`${problems.length} problem(s)`);
  process.exit(1);
}
console.log("passkeys: every check passed");
