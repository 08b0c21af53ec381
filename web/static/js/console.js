// Behaviour shared by every page. No inline script anywhere (the CSP forbids it): pages
// declare what they need with data- attributes.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Idle sign-out: the server counts a visitor idle when no request came for the idle
  // time; when that time has passed, load a page so the server ends the session and the
  // screen no longer shows data to whoever sits down next at the desk.
  const idle = Number(document.body.dataset.idleSeconds || 0);
  if (idle > 0) {
    setTimeout(() => window.location.assign(document.body.dataset.idleUrl), (idle + 5) * 1000);
  }

  // Forms that do something hard to undo ask first.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});
