// 诊前签到: fill the position before the form is sent. In the sandbox the tester picks inside/outside
// (data-lat/data-lng on the button); inside WeChat/Alipay the webview's geolocation answers (the
// 服务号's JS-SDK wx.getLocation gives the same coordinates once the page is configured with it).
(function () {
  var form = document.querySelector('[data-checkin-form]');
  if (!form) return;
  var lat = form.querySelector('input[name=latitude]'), lng = form.querySelector('input[name=longitude]');
  form.querySelectorAll('button[data-lat]').forEach(function (button) {
    button.addEventListener('click', function () { lat.value = button.dataset.lat; lng.value = button.dataset.lng; });
  });
  if (!form.hasAttribute('data-needs-location') || form.querySelector('button[data-lat]')) return;
  form.addEventListener('submit', function (event) {
    if (lat.value || !navigator.geolocation) return;
    event.preventDefault();
    navigator.geolocation.getCurrentPosition(function (pos) {
      lat.value = pos.coords.latitude; lng.value = pos.coords.longitude; form.submit();
    }, function () { form.submit(); }, {timeout: 8000});
  });
})();
