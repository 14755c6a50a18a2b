/* FAQ editor: the citation picker. It only offers articles the server found in the statute library. */
(function () {
  "use strict";
  if (document.getElementById("publishing")) {  // a draft being published: look again shortly
    window.setTimeout(function () { window.location.reload(); }, 3000);
  }
  var button = document.getElementById("pick-search");
  if (!button) { return; }
  var law = document.getElementById("pick-law"), query = document.getElementById("pick-q");
  var list = document.getElementById("pick-results"), status = document.getElementById("pick-status");
  var citations = document.getElementById("f-citations");

  function add(article) {
    var text = citations.value.replace(/\s+$/, "");
    citations.value = (text ? text + "\n" : "") + article.law + " | " + article.number;
    status.textContent = "已加入：" + article.law + " 第" + article.number + "条";
  }

  function show(articles) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    if (!articles.length) { status.textContent = "没有找到这样的条文"; return; }
    status.textContent = "找到 " + articles.length + " 条（最多显示 20 条）";
    for (var i = 0; i < articles.length; i++) {
      (function (article) {
        var item = document.createElement("li");
        var head = document.createElement("strong");
        head.textContent = article.law + " 第" + article.number + "条 ";
        var pick = document.createElement("button");
        pick.type = "button"; pick.className = "secondary pick-add"; pick.textContent = "加入";
        pick.addEventListener("click", function () { add(article); });
        var body = document.createElement("div");
        body.className = "pick-text"; body.textContent = article.text;
        item.appendChild(head); item.appendChild(pick); item.appendChild(body);
        list.appendChild(item);
      })(articles[i]);
    }
  }

  function search() {
    if (!query.value.replace(/\s/g, "")) { status.textContent = "请填条号或关键词"; return; }
    status.textContent = "查找中…";
    var xhr = new XMLHttpRequest();
    xhr.open("GET", "/console/faq/articles.json?law=" + encodeURIComponent(law.value) +
             "&q=" + encodeURIComponent(query.value));
    xhr.onload = function () {
      if (xhr.status !== 200) { status.textContent = "查找失败，请刷新页面后重试"; return; }
      show(JSON.parse(xhr.responseText).articles);
    };
    xhr.onerror = function () { status.textContent = "网络不通，请稍后再试"; };
    xhr.send();
  }

  button.addEventListener("click", search);
  query.addEventListener("keydown", function (event) {
    if (event.key === "Enter" || event.keyCode === 13) { event.preventDefault(); search(); }
  });
})();
