// WebAuthn ceremonies in the browser: ask the server for options, let the browser talk to
// the security key, send the answer back. The server checks everything; this file only
// converts between JSON (base64url) and the ArrayBuffers the WebAuthn API wants.
"use strict";

(() => {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

  const fromB64url = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  };
  const toB64url = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  const creationOptions = (json) => {
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: fromB64url(json.challenge),
      user: { ...json.user, id: fromB64url(json.user.id) },
      excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
    };
  };
  const requestOptions = (json) => {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: fromB64url(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
    };
  };

  const credentialJSON = (credential) => {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    return {
      id: credential.id, rawId: toB64url(credential.rawId), type: credential.type, response,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || null,
    };
  };

  const post = async (url, body) => {
    const reply = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await reply.json(); } catch (e) { data = {}; }
    if (!reply.ok || data.error) {
      throw new Error((data.error && data.error.message) || reply.statusText);
    }
    return data;
  };

  const run = async (element, ceremony) => {
    const status = (element.closest("td, section, form, main") || document).querySelector(".webauthn-status");
    const say = (text) => { if (status) status.textContent = text; };
    const button = element.tagName === "BUTTON" ? element : element.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      say(document.documentElement.lang === "fr" ? "Utilisez votre clé de sécurité…" : "Use your security key…");
      const extra = {};
      const nameInput = element.querySelector && element.querySelector("input[name=name]");
      if (nameInput) extra.name = nameInput.value;
      // A ceremony may take several steps (adding a key: confirm with a key you hold, then
      // create the new one): an answer carrying "options" says which ceremony comes next
      // ("ceremony") and where its answer goes ("next").
      let step = await post(element.dataset.optionsUrl, extra);
      let kind = step.ceremony || ceremony;
      let target = step.next || element.dataset.verifyUrl;
      for (;;) {
        const credential = kind === "register"
          ? await navigator.credentials.create({ publicKey: creationOptions(step.options) })
          : await navigator.credentials.get({ publicKey: requestOptions(step.options) });
        const result = await post(target, { ...extra, credential: credentialJSON(credential) });
        if (!result.options) {
          window.location.assign(result.redirect || "/");
          return;
        }
        step = result;
        kind = result.ceremony || kind;
        target = result.next || target;
      }
    } catch (error) {
      say(error.message || String(error));
      if (button) button.disabled = false;
    }
  };

  document.addEventListener("DOMContentLoaded", () => {
    // Approving a request is the same assertion ceremony as signing in; the server binds
    // its challenge to the request's content.
    // Confirming a role change or a key's revocation too: the challenge is bound to it.
    document.querySelectorAll('[data-webauthn="sign-in"], [data-webauthn="approve"], [data-webauthn="confirm"]').forEach((button) => {
      button.addEventListener("click", () => run(button, "get"));
    });
    document.querySelectorAll('form[data-webauthn="register"]').forEach((form) => {
      form.addEventListener("submit", (event) => { event.preventDefault(); run(form, "register"); });
    });
  });
})();
