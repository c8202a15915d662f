// raaft console: progress feedback and confirmations. The pages work
// without this script; it only tells the user something is happening.
"use strict";
document.addEventListener("submit", function (ev) {
  var form = ev.target;
  var ask = form.getAttribute("data-confirm");
  if (ask && !window.confirm(ask)) { ev.preventDefault(); return; }
  if (form.dataset.busy) { ev.preventDefault(); return; } // one submit per form
  form.dataset.busy = "1";
  var msg = form.getAttribute("data-progress") || "Working…";
  form.setAttribute("aria-busy", "true");
  var buttons = form.querySelectorAll("button[type=submit]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].dataset.label = buttons[i].textContent;
    buttons[i].textContent = msg;
    buttons[i].classList.add("busy");
  }
  var status = document.getElementById("status");
  if (status) { status.textContent = msg; }
});
// Coming back with the browser's back button restores the page from cache:
// undo the busy state so the forms work again.
window.addEventListener("pageshow", function () {
  var forms = document.querySelectorAll("form[aria-busy=true]");
  for (var i = 0; i < forms.length; i++) {
    delete forms[i].dataset.busy;
    forms[i].removeAttribute("aria-busy");
    var buttons = forms[i].querySelectorAll("button[type=submit]");
    for (var j = 0; j < buttons.length; j++) {
      if (buttons[j].dataset.label) { buttons[j].textContent = buttons[j].dataset.label; }
      buttons[j].classList.remove("busy");
    }
  }
});
