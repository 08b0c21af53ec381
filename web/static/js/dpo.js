// The DPO's printable report: a button that opens the browser's print dialogue (the CSP
// forbids an inline onclick). The print stylesheet is static/dpo.css.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });
});
