// Replay: load the recording's export (an audited read on the server), play it in the
// asciinema player, and let the timeline's buttons seek the player to their moment.
"use strict";

(() => {
  const clock = (seconds) => {
    const whole = Math.max(0, Math.floor(seconds || 0));
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = String(whole % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  };

  const start = async (element) => {
    const status = element.parentElement.querySelector(".replay-status");
    const time = element.parentElement.querySelector(".replay-time");
    const say = (text) => { if (status) status.textContent = text; };
    say(element.dataset.textLoading);
    const reply = await fetch(element.dataset.castUrl, { credentials: "same-origin" });
    if (!reply.ok) {
      let message = reply.statusText;
      try { message = (await reply.json()).error.message; } catch (e) { /* not JSON */ }
      say(message);
      return;
    }
    const cast = await reply.text();
    const startAt = Number(element.dataset.start || 0);
    const player = window.AsciinemaPlayer.create({ data: cast }, element, {
      // No idleTimeLimit: the timeline's offsets are the recording's own times.
      preload: true, fit: "width", startAt, terminalFontSize: "small",
    });
    say("");

    const moments = Array.from(document.querySelectorAll("[data-seek]"));
    const show = () => {
      const now = player.getCurrentTime() || 0;
      time.textContent = clock(now);
      time.dataset.seconds = now.toFixed(2);
      // The moment just reached is marked, for sight and for screen readers.
      let current = null;
      moments.forEach((button) => { if (Number(button.dataset.seek) <= now + 0.05) current = button; });
      moments.forEach((button) => {
        if (button === current) button.setAttribute("aria-current", "true");
        else button.removeAttribute("aria-current");
      });
    };
    moments.forEach((button) => {
      button.addEventListener("click", async () => {
        await player.seek(Number(button.dataset.seek));
        show();
      });
    });
    setInterval(show, 250);
  };

  document.addEventListener("DOMContentLoaded", () => {
    const element = document.getElementById("replay-player");
    if (element && window.AsciinemaPlayer) start(element);
  });
})();
