// Quick attendee picking: filter by name or number, select all shown, select one branch.
// Without JavaScript the plain checkboxes still work.
(function () {
  "use strict";
  var picker = document.getElementById("attendee-picker");
  if (!picker) { return; }
  var boxes = function () { return picker.querySelectorAll("input[name=attendees]"); };
  var count = document.getElementById("picked-count");
  var refresh = function () {
    var n = 0;
    boxes().forEach(function (b) { if (b.checked) { n += 1; } });
    count.textContent = String(n);
  };
  var visible = function (item) { return !item.hidden; };
  picker.querySelectorAll("[hidden].picker-tools, .pick-branch").forEach(function (el) { el.hidden = false; });
  var search = document.getElementById("attendee-search");
  search.addEventListener("input", function () {
    var q = search.value.trim().toLowerCase();
    picker.querySelectorAll(".picker-item").forEach(function (item) {
      item.hidden = q !== "" && item.dataset.search.toLowerCase().indexOf(q) === -1;
    });
    picker.querySelectorAll(".picker-group").forEach(function (group) {
      group.hidden = !Array.prototype.some.call(group.querySelectorAll(".picker-item"), visible);
    });
  });
  document.getElementById("pick-all").addEventListener("click", function () {
    picker.querySelectorAll(".picker-item").forEach(function (item) {
      if (visible(item) && !item.closest(".picker-group").hidden) { item.querySelector("input").checked = true; }
    });
    refresh();
  });
  document.getElementById("pick-none").addEventListener("click", function () {
    boxes().forEach(function (b) { b.checked = false; });
    refresh();
  });
  picker.querySelectorAll(".pick-branch").forEach(function (button) {
    button.addEventListener("click", function () {
      button.closest(".picker-group").querySelectorAll("input[name=attendees]").forEach(function (b) { b.checked = true; });
      refresh();
    });
  });
  picker.addEventListener("change", refresh);
})();
