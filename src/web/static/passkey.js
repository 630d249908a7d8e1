// Passkeys (WebAuthn) on Registervakt's pages: a button with data-passkey="register" or
// "authenticate" runs the ceremony against /api/v1/passkeys/* and then goes to data-next.
// No framework; binary fields travel as base64url (RFC 4648 §5), as webauthn-rs expects.
// The server checks everything: this script only carries bytes between the browser's
// authenticator and the broker.
"use strict";
(function () {
  function fromB64u(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "===".slice((b64.length + 3) % 4);
    const raw = atob(padded);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function toB64u(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = "";
    for (let i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  async function post(path, body) {
    const init = { method: "POST", credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (!res.ok) throw new Error("refused " + res.status);
    return res.status === 204 ? null : res.json();
  }

  async function register(button) {
    const input = document.getElementById(button.dataset.nameInput || "");
    const name = input && input.value.trim() ? input.value.trim() : "Passkey";
    const options = (await post("/api/v1/passkeys/register/begin")).publicKey;
    options.challenge = fromB64u(options.challenge);
    options.user.id = fromB64u(options.user.id);
    (options.excludeCredentials || []).forEach((c) => { c.id = fromB64u(c.id); });
    const cred = await navigator.credentials.create({ publicKey: options });
    return post("/api/v1/passkeys/register/finish", {
      name: name,
      credential: {
        id: cred.id,
        rawId: toB64u(cred.rawId),
        type: cred.type,
        response: {
          attestationObject: toB64u(cred.response.attestationObject),
          clientDataJSON: toB64u(cred.response.clientDataJSON),
        },
        extensions: cred.getClientExtensionResults(),
      },
    });
  }

  async function authenticate() {
    const options = (await post("/api/v1/passkeys/authenticate/begin")).publicKey;
    options.challenge = fromB64u(options.challenge);
    (options.allowCredentials || []).forEach((c) => { c.id = fromB64u(c.id); });
    const cred = await navigator.credentials.get({ publicKey: options });
    const r = cred.response;
    await post("/api/v1/passkeys/authenticate/finish", {
      credential: {
        id: cred.id,
        rawId: toB64u(cred.rawId),
        type: cred.type,
        response: {
          authenticatorData: toB64u(r.authenticatorData),
          clientDataJSON: toB64u(r.clientDataJSON),
          signature: toB64u(r.signature),
          userHandle: r.userHandle ? toB64u(r.userHandle) : null,
        },
        extensions: cred.getClientExtensionResults(),
      },
    });
  }

  // The recovery codes of a first second factor, shown once in place of the page.
  function showCodes(codes) {
    const section = document.querySelector("[data-passkey-codes]");
    if (!section || !codes || codes.length === 0) return false;
    const list = section.querySelector("ul");
    codes.forEach((code) => {
      const item = document.createElement("li");
      const text = document.createElement("code");
      text.textContent = code;
      item.appendChild(text);
      list.appendChild(item);
    });
    document.querySelectorAll("main > *").forEach((el) => {
      if (el !== section) el.hidden = true;
    });
    section.hidden = false;
    section.focus();
    return true;
  }

  function show(box, selector) {
    const el = box && box.querySelector(selector);
    if (el) el.hidden = false;
  }

  function wire(button) {
    const box = button.closest("[data-passkey-form]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      button.disabled = true;
      show(box, "[data-passkey-unsupported]");
      return;
    }
    button.addEventListener("click", async () => {
      const error = box && box.querySelector("[data-passkey-error]");
      if (error) error.hidden = true;
      button.disabled = true;
      try {
        if (button.dataset.passkey === "register") {
          const done = await register(button);
          if (showCodes(done && done.recovery_codes)) return;
        } else {
          await authenticate();
        }
        window.location.assign(button.dataset.next || "/start");
      } catch (e) {
        button.disabled = false;
        show(box, "[data-passkey-error]");
      }
    });
  }

  document.querySelectorAll("button[data-passkey]").forEach(wire);
})();
