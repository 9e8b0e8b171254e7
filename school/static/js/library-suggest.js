// Search box: titles suggested as a member types (characters, traditional characters or pinyin).
(function () {
  "use strict";
  var input = document.getElementById("library-q");
  var list = document.getElementById("library-suggestions");
  if (!input || !list || !input.dataset.suggestUrl || !window.fetch) { return; }
  var timer = null, last = "";
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = input.value.trim();
      if (q === last || q.length < 2) { return; }
      last = q;
      fetch(input.dataset.suggestUrl + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {titles: []}; })
        .then(function (data) {
          list.textContent = "";
          (data.titles || []).forEach(function (title) {
            var option = document.createElement("option");
            option.value = title;
            list.appendChild(option);
          });
        })
        .catch(function () {});
    }, 200);
  });
})();
