// 绑定就诊卡 / 编辑就诊人: the guardian's fields are a child's; an adult (本人, 配偶 …) does not see them. What was
// typed there stays (a relation chosen by mistake and changed back loses nothing), and a field the server
// refused keeps the section open. A static file: the CSP allows no inline script.
(function () {
  var relation = document.getElementById('f-relation');
  var section = document.querySelector('[data-shown-for-relation]');
  if (!relation || !section) return;
  var refused = section.querySelector('[aria-invalid="true"]') !== null;
  function show() {
    section.hidden = !refused && relation.value !== section.dataset.shownForRelation;
  }
  relation.addEventListener('change', function () { refused = false; show(); });
  show();
})();
