// Question form: "插入图片" puts the picture where the cursor is in the GIFT text.
// The upload itself is the ordinary form post; without this script the server puts the
// picture at the end of the question text instead.
(function () {
  "use strict";
  var text = document.getElementById("gift");
  var at = document.getElementById("image_at");
  if (!text || !at || !text.form) { return; }
  var touched = false;

  ["focus", "click", "keyup", "select"].forEach(function (name) {
    text.addEventListener(name, function () { touched = true; });
  });

  text.form.addEventListener("submit", function () {
    // The server counts characters (code points) in the text with "\n" line ends, as the
    // textarea's value has them; selectionStart counts UTF-16 units, so count again.
    at.value = touched ? String(Array.from(text.value.slice(0, text.selectionStart)).length) : "";
  });

  // Just inserted: the cursor goes after the picture, so a second one follows the first.
  var caret = parseInt(text.getAttribute("data-caret"), 10);
  if (!isNaN(caret)) {
    var units = Array.from(text.value).slice(0, caret).join("").length;
    text.setSelectionRange(units, units);
    touched = true;
    var notice = document.getElementById("image-inserted");
    if (notice && notice.scrollIntoView) { notice.scrollIntoView({ block: "center" }); }
  }
})();
