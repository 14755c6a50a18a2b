// The printable form's "打印" button (no inline script: the console's CSP forbids it).
(function () {
  var button = document.getElementById("print");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
})();
