// The console's only behaviour beyond plain links and forms: the time-travel slider shows the
// version it points at while it moves, and goes there when released.
(function () {
  "use strict";
  var slider = document.getElementById("version-slider");
  if (!slider) { return; }
  var shown = document.getElementById("version-shown");
  slider.addEventListener("input", function () {
    shown.textContent = slider.value + " / " + slider.max;
  });
  slider.addEventListener("change", function () {
    document.getElementById("travel-form").submit();
  });
}());
