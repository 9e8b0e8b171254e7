// Reading page: restore the reading position, and send heartbeats while the page is
// visible so the server can credit real reading time (it decides what counts).
(function () {
  "use strict";
  var reader = document.getElementById("reader");
  if (!reader) { return; }
  var url = reader.dataset.heartbeatUrl;
  var interval = Math.max(1, parseInt(reader.dataset.interval, 10) || 30) * 1000;
  var status = document.getElementById("reading-status");
  var tokenMeta = document.querySelector('meta[name="csrf-token"]');
  var token = tokenMeta ? tokenMeta.content : "";
  var timer = null;

  function currentAnchor() {
    var articles = reader.querySelectorAll("p.article, h2[id], h3[id], h4[id]");
    var anchor = "";
    for (var i = 0; i < articles.length; i++) {
      if (articles[i].getBoundingClientRect().top > 120) { break; }
      anchor = articles[i].id;
    }
    return anchor;
  }

  function fraction() {
    var max = document.documentElement.scrollHeight - window.innerHeight;
    return max > 0 ? Math.min(1, Math.max(0, window.scrollY / max)) : 0;
  }

  function beat(visible) {
    var body = JSON.stringify({ visible: visible, anchor: currentAnchor(), fraction: fraction() });
    return fetch(url, {
      method: "POST", credentials: "same-origin", keepalive: !visible,
      headers: { "Content-Type": "application/json", "X-CSRFToken": token, "Accept": "application/json" },
      body: body
    }).then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && status && data.today_hours && data.today_hours !== "0" && data.today_hours !== "0.00") {
          status.textContent = "· 今日阅读已计 " + parseFloat(data.today_hours) + " 学时";
        }
      })
      .catch(function () { /* offline for a moment: the next beat simply starts a new window */ });
  }

  function start() {
    if (timer === null) {
      beat(true);
      timer = window.setInterval(function () { beat(true); }, interval);
    }
  }

  function stop() {
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
      beat(false);
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { start(); } else { stop(); }
  });
  window.addEventListener("pagehide", stop);

  // Back to where the member stopped last time, unless the link points at an article.
  if (!window.location.hash) {
    var anchor = reader.dataset.anchor;
    var target = anchor ? document.getElementById(anchor) : null;
    if (target) {
      target.scrollIntoView();
    } else {
      var f = parseFloat(reader.dataset.fraction || "0");
      if (f > 0) { window.scrollTo(0, f * (document.documentElement.scrollHeight - window.innerHeight)); }
    }
  }
  if (document.visibilityState === "visible") { start(); }
})();
