// Editor: a live preview of the Markdown body, rendered and sanitised by the server
// (the same code that renders the reading page), so what the editor sees is what members see.
(function () {
  "use strict";
  var body = document.getElementById("body");
  var preview = document.getElementById("preview");
  if (!body || !preview) { return; }
  var tokenMeta = document.querySelector('meta[name="csrf-token"]');
  var token = tokenMeta ? tokenMeta.content : "";
  var pending = null;
  var sequence = 0;

  function render() {
    var mine = ++sequence;
    fetch(preview.dataset.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token, "Accept": "application/json" },
      body: JSON.stringify({ body: body.value })
    }).then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && mine === sequence) { preview.innerHTML = data.html; }  // server-sanitised HTML
      })
      .catch(function () { preview.textContent = "预览暂时不可用"; });
  }

  body.addEventListener("input", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(render, 400);
  });
  render();
})();
