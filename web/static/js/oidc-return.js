// Back from the identity provider: reload from this origin so the browser sends the
// SameSite=Strict session cookie that holds the sign-in's state (web/blueprints/oidc_auth.py).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const link = document.getElementById("oidc-continue");
  if (link) {
    window.location.replace(link.getAttribute("href"));
  }
});
