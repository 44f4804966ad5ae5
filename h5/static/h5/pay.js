// 确认支付: count down to the order's own deadline. The server gives the seconds left by its clock
// (data-remaining), so a phone whose clock is wrong still shows the truth; at zero the page says the
// order timed out and the 立即支付 button goes away.
(function () {
  var box = document.querySelector('[data-remaining]');
  if (!box) return;
  var left = parseInt(box.getAttribute('data-remaining'), 10), started = Date.now();
  var shown = box.querySelector('[data-countdown]');
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function tick() {
    var now = Math.max(0, left - Math.floor((Date.now() - started) / 1000));
    shown.textContent = pad(Math.floor(now / 60)) + ':' + pad(now % 60);
    if (now > 0) { setTimeout(tick, 1000); return; }
    box.textContent = box.getAttribute('data-expired-text');
    var form = document.querySelector('[data-pay-form]');
    if (form) form.remove();
  }
  tick();
})();
