// The connection banner of shiftdesk's dashboards.
//
// A dashboard whose kernel is gone keeps showing its last state; on a shift that is a
// hazard (an operator reads "Ready" from a page that stopped updating). This script wraps
// the browser's WebSocket before Voilà opens the kernel's channels, and:
//   - shows a red banner at once when the channel closes or the kernel restarts or dies
//     (a restarted kernel has lost the page's widgets), with the time of the last message
//     from the kernel and its age, and a veil that keeps clicks off the stale controls;
//   - hides it again when the channel reconnects to the same kernel (the server buffers
//     what the kernel said meanwhile);
//   - asks the server every 1.5 s whether the page's kernel still exists (a kernel shut down
//     by culling or by an admin leaves the channel open and silent), and once the server
//     answers without it, reloads the page (a new kernel, live data).
// It is inlined in the page's head (no request of its own) and written without the page
// template's brace pairs.
(function () {
  "use strict";
  var NativeWebSocket = window.WebSocket;
  if (!NativeWebSocket || window.__sdConnection) {
    return;
  }
  var KERNEL_CHANNELS = /\/api\/kernels\/([0-9a-f-]+)\/channels/;
  var KERNEL_GONE = /"execution_state"\s*:\s*"(restarting|autorestarting|dead)"/;
  var POLL_MS = 1500;
  var POLL_HIDDEN_MS = 10000; // a page nobody looks at asks less often
  var RELOAD_AFTER_MS = 2500;

  var state = {
    open: 0, // kernel channels open now
    everOpen: false,
    lastMessage: null, // Date.now() of the last message from the kernel
    lostAt: null,
    why: "",
    kernelGone: false,
    kernelId: null,
    reloading: false,
  };
  window.__sdConnection = state;

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }
  function clock(ms) {
    var d = new Date(ms);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function age(ms) {
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + " s ago";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " min " + pad(s % 60) + " s ago";
    return Math.floor(m / 60) + " h " + pad(m % 60) + " min ago";
  }

  function config() {
    var el = document.getElementById("jupyter-config-data");
    if (!el) return {};
    try {
      return JSON.parse(el.textContent || "{}");
    } catch (e) {
      return {};
    }
  }

  function element(tag, attrs, text) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      el.setAttribute(k, attrs[k]);
    });
    if (text) el.textContent = text;
    return el;
  }

  var banner = null;
  function ensureBanner() {
    if (banner) return banner;
    banner = element("div", { id: "sd-connection", role: "alert", "aria-live": "assertive" });
    banner.hidden = true;
    var title = element("strong", { class: "sd-connection-title" });
    var detail = element("span", { class: "sd-connection-detail" });
    var reload = element("button", { type: "button", class: "sd-connection-reload" }, "Reload now");
    reload.addEventListener("click", function () {
      window.location.reload();
    });
    banner.appendChild(title);
    banner.appendChild(detail);
    banner.appendChild(reload);
    var veil = element("div", { id: "sd-connection-veil" });
    veil.hidden = true;
    document.body.appendChild(veil);
    document.body.appendChild(banner);
    return banner;
  }

  function render() {
    if (!document.body) return;
    var el = ensureBanner();
    var veil = document.getElementById("sd-connection-veil");
    if (state.lostAt === null) {
      el.hidden = true;
      veil.hidden = true;
      document.body.classList.remove("sd-disconnected");
      return;
    }
    el.hidden = false;
    veil.hidden = false;
    document.body.classList.add("sd-disconnected");
    el.dataset.state = state.kernelGone ? "kernel-lost" : "disconnected";
    var since = state.lastMessage || state.lostAt;
    el.querySelector(".sd-connection-title").textContent = state.kernelGone
      ? "This page's session ended: nothing on it is live."
      : "Disconnected from the server: nothing on this page is live.";
    var next = state.reloading
      ? " Reloading…"
      : state.kernelGone
        ? " The page reloads by itself when the server answers."
        : " Reconnecting…";
    el.querySelector(".sd-connection-detail").textContent =
      " " + state.why + " Last update from the server " + clock(since) + " (" + age(since) +
      ")." + next;
  }

  function lost(why, kernelGone) {
    if (state.lostAt === null) state.lostAt = Date.now();
    // the first reason the kernel is gone says most (a closed channel follows a dead kernel)
    if (!state.kernelGone || kernelGone) state.why = why;
    state.kernelGone = state.kernelGone || !!kernelGone;
    render();
  }

  function reconnected() {
    if (state.kernelGone) return; // a restarted kernel has none of this page's widgets
    state.lostAt = null;
    state.why = "";
    render();
  }

  function reload() {
    if (state.reloading) return;
    state.reloading = true;
    render();
    setTimeout(function () {
      window.location.reload();
    }, RELOAD_AFTER_MS);
  }

  // One loop asks the server about the page's kernel: 404 means it is gone (shut down,
  // culled, a restarted server); a restarted kernel answers 200 under the same id but has
  // lost the page's widgets (kernelGone is set from its status message). A redirect (to a
  // login or spawn page), a proxy's 502/503 or no answer mean the server is not back yet;
  // 403 (a shared page whose viewers may not read its kernel) ends the asking.
  var polling = null;
  function poll() {
    if (polling !== null || state.reloading) return;
    var wait = document.visibilityState === "hidden" ? POLL_HIDDEN_MS : POLL_MS;
    polling = setTimeout(function check() {
      polling = null;
      if (state.reloading) return;
      var cfg = config();
      var base = cfg.baseUrl || "/";
      var id = state.kernelId || cfg.kernelId;
      if (!id) return;
      var url = base + "api/kernels/" + id + "?sd-connection=" + Date.now();
      // a JupyterHub server wants cookie-authenticated API calls to carry the XSRF
      // token of its cookie (JupyterLab's own requests do the same)
      var xsrf = /(?:^|; )_xsrf=([^;]*)/.exec(document.cookie);
      var headers = xsrf ? { "X-XSRFToken": decodeURIComponent(xsrf[1]) } : {};
      fetch(url, {
        credentials: "same-origin",
        redirect: "manual",
        cache: "no-store",
        headers: headers,
      })
        .then(function (response) {
          if (response.status === 404) {
            lost("The server ended this page's session (idle, or stopped by an admin).", true);
            reload();
          } else if (response.status === 200 && state.kernelGone) {
            reload();
          } else if (response.status === 403 && state.lostAt === null) {
            // this viewer may not ask (a shared page): the channel's closing is all
            // there is to go by, and asking again would only fill the console
          } else {
            poll();
          }
        })
        .catch(function () {
          poll();
        });
    }, wait);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && polling !== null && state.everOpen) {
      clearTimeout(polling);
      polling = null;
      poll();
    }
  });

  function inspect(data) {
    // Kernel status messages are small; the server sends "restarting" or "dead" when the
    // kernel process died under the page. Binary frames (the v1 websocket protocol)
    // carry the same JSON header and content as text.
    var text = null;
    if (typeof data === "string") {
      text = data.length < 8192 ? data : null;
    } else if (data instanceof ArrayBuffer && data.byteLength < 8192) {
      text = new TextDecoder("utf-8").decode(data);
    }
    if (text !== null && text.indexOf("execution_state") >= 0) {
      var found = KERNEL_GONE.exec(text);
      if (found) {
        lost(
          found[1] === "dead"
            ? "The kernel behind this page died."
            : "The kernel behind this page restarted and lost this page's state.",
          true
        );
      }
    }
  }

  function WatchedWebSocket(url, protocols) {
    var socket =
      protocols === undefined ? new NativeWebSocket(url) : new NativeWebSocket(url, protocols);
    var match = KERNEL_CHANNELS.exec(String(url));
    if (!match) return socket;
    state.kernelId = match[1];
    var counted = false;
    socket.addEventListener("open", function () {
      counted = true;
      state.open += 1;
      state.everOpen = true;
      state.lastMessage = Date.now();
      if (state.lostAt !== null) reconnected();
      poll();
    });
    socket.addEventListener("message", function (event) {
      state.lastMessage = Date.now();
      inspect(event.data);
    });
    socket.addEventListener("close", function () {
      if (counted) state.open -= 1;
      counted = false;
      if (state.everOpen && state.open <= 0 && !state.reloading) {
        lost("The connection to the server closed.", false);
        poll();
      }
    });
    return socket;
  }
  WatchedWebSocket.prototype = NativeWebSocket.prototype;
  ["CONNECTING", "OPEN", "CLOSING", "CLOSED"].forEach(function (name) {
    WatchedWebSocket[name] = NativeWebSocket[name];
  });
  window.WebSocket = WatchedWebSocket;

  // The age in the banner keeps counting.
  setInterval(function () {
    if (state.lostAt !== null) render();
  }, 1000);
  window.addEventListener("offline", function () {
    if (state.everOpen) lost("This computer went offline.", false);
  });
})();
