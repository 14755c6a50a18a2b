// The live escalation queue: redraw the table from /console/escalations.json every few seconds.
(function () {
  var rows = document.getElementById('rows'), filters = document.getElementById('filters');
  if (!rows || !filters) return;
  var REASONS = { request: '群众要求', fallback: '答不上来', emergency: '紧急情况', intake: '法律援助申请' };
  function cell(tr, text, href) {
    var td = document.createElement('td');
    if (href) { var a = document.createElement('a'); a.href = href; a.textContent = text; td.appendChild(a); }
    else { td.textContent = text; }
    tr.appendChild(td);
  }
  function draw(list) {
    while (rows.firstChild) rows.removeChild(rows.firstChild);
    if (!list.length) { var tr = document.createElement('tr'); tr.className = 'empty'; cell(tr, '没有会话'); tr.firstChild.colSpan = 8; rows.appendChild(tr); return; }
    list.forEach(function (r) {
      var tr = document.createElement('tr'); if (r.emergency) tr.className = 'emergency';
      cell(tr, String(r.id), '/console/escalations/' + r.id); cell(tr, REASONS[r.reason] || r.reason);
      cell(tr, r.channel_name); cell(tr, r.topic || '—'); cell(tr, r.town || '—');
      cell(tr, Math.floor(r.waiting_seconds / 60) + ' 分钟'); cell(tr, r.status_name || r.status); cell(tr, r.assignee || '—');
      rows.appendChild(tr);
    });
  }
  function refresh() {
    var query = new URLSearchParams(new FormData(filters)).toString();
    fetch('/console/escalations.json?' + query, { credentials: 'same-origin' })
      .then(function (r) { if (r.status === 401) { location.href = '/console/login'; } return r.json(); })
      .then(function (data) { if (data.conversations) { draw(data.conversations); document.getElementById('updated').textContent = '实时更新 · ' + new Date().toLocaleTimeString(); } })
      .catch(function () { document.getElementById('updated').textContent = '网络不稳定，正在重试…'; });
  }
  setInterval(refresh, 3000);
})();
