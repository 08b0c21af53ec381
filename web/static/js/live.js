// Watching a live session: the asciinema player fed by a custom driver that polls the
// console every half second for the events recorded since the last poll
// (web/blueprints/live.py, feed). Polling rather than a long-lived stream: it goes through
// any proxy in front of the console, holds no server worker, and each poll is checked
// against the access rules like every other request.
"use strict";

(() => {
  const POLL_MS = 500;

  const pollingDriver = (element, say) => ({ dispatch }) => {
    const url = element.dataset.feedUrl;
    let recording = null;
    let after = 0;
    let size = null;
    let stopped = false;
    let timer = null;
    let lastTime = 0;

    const apply = (data) => {
      if (data.recording !== null && data.recording !== recording) {
        // A recording we had not seen (the first, or a new channel): start a clean screen.
        recording = data.recording;
        dispatch("reset", { size: { cols: data.width, rows: data.height } });
        dispatch("playing");
      }
      data.events.forEach(([time, code, payload]) => {
        lastTime = time;
        if (code === "o") {
          dispatch("output", payload);
        } else if (code === "r") {
          const [cols, rows] = payload.split("x").map((n) => Number.parseInt(n, 10));
          dispatch("resize", { cols, rows });
        }
      });
      after = data.next;
      size = data.size;
      element.dataset.received = String(after);
    };

    const poll = async () => {
      if (stopped) return;
      // The watcher's stated purpose goes with every poll: the first read is audited with it.
      const query = new URLSearchParams({ after: String(after), purpose: element.dataset.purpose || "" });
      if (recording !== null) query.set("recording", String(recording));
      if (size !== null) query.set("size", String(size));
      try {
        const reply = await fetch(`${url}?${query}`, {
          credentials: "same-origin", headers: { Accept: "application/json" },
        });
        if (reply.redirected) {
          // Signed out meanwhile (the access rules send visitors to the sign-in page).
          stopped = true;
          window.location.assign(reply.url);
          return;
        }
        const data = await reply.json();
        if (!reply.ok || data.error) {
          throw new Error((data.error && data.error.message) || reply.statusText);
        }
        apply(data);
        if (data.done) {
          stopped = true;
          element.dataset.state = "ended";
          say(element.dataset.textEnded + (data.end_reason ? ` (${data.end_reason})` : ""));
          return;
        }
        if (data.recording === null) {
          say(element.dataset.textWaiting);  // connected, no terminal open yet
        } else {
          element.dataset.state = "live";
          say(element.dataset.textWatching);
        }
      } catch (error) {
        say(error.message || String(error));
      }
      timer = setTimeout(poll, POLL_MS);
    };

    return {
      play() {
        dispatch("play");
        poll();
        return true;
      },
      stop() {
        stopped = true;
        clearTimeout(timer);
      },
      // A live view has no timeline: report the time of the last event, standing still.
      getTiming: () => ({ time: lastTime, rate: 0, sampledAt: performance.timeOrigin + performance.now() }),
    };
  };

  document.addEventListener("DOMContentLoaded", () => {
    const element = document.getElementById("live-player");
    if (!element || !window.AsciinemaPlayer) return;
    const status = element.parentElement.querySelector(".live-status");
    const say = (text) => { if (status) status.textContent = text; };
    window.AsciinemaPlayer.create(pollingDriver(element, say), element, {
      autoPlay: true, controls: false, fit: "width", terminalFontSize: "small",
    });
  });
})();
