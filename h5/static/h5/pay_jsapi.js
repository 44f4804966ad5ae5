// Inside WeChat: open the cashier with the signed parameters the page carries (data-params). The
// bridge's "ok" is not proof of payment: whatever it says, the result page asks the channel.
(function () {
  var box = document.querySelector('[data-jsapi-params]');
  if (!box) return;
  var params = JSON.parse(box.getAttribute('data-jsapi-params')), result = box.getAttribute('data-result-url');
  function go() { window.location.href = result; }
  function invoke() { WeixinJSBridge.invoke('getBrandWCPayRequest', params, go); }
  if (typeof WeixinJSBridge === 'undefined') { document.addEventListener('WeixinJSBridgeReady', invoke, false); }
  else { invoke(); }
})();
