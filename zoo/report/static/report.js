// zoo report: sortable tables, chart variants, gallery order. No libraries, no network.
(function () {
  "use strict";

  function compare(a, b, type) {
    if (type === "num") return parseFloat(a) - parseFloat(b);
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  // Sort a table's body by one column. Empty values (not measured) always go last, whatever the direction.
  function sortTable(table, index, descending) {
    var body = table.tBodies[0];
    var header = table.tHead.rows[0].cells[index];
    var type = header.getAttribute("data-type") || "text";
    var rows = Array.prototype.slice.call(body.rows).map(function (row, position) {
      var cell = row.cells[index];
      var value = cell ? cell.getAttribute("data-v") : "";
      if (value === null) value = cell.textContent.trim();
      return { row: row, value: value, position: position };
    });
    rows.sort(function (x, y) {
      var xMissing = x.value === "", yMissing = y.value === "";
      if (xMissing !== yMissing) return xMissing ? 1 : -1;
      var order = xMissing ? 0 : compare(x.value, y.value, type);
      if (descending) order = -order;
      return order || x.position - y.position;
    });
    rows.forEach(function (item) { body.appendChild(item.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) { cell.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      header.addEventListener("click", function () {
        var current = header.getAttribute("aria-sort");
        var descending = current ? current === "ascending" : header.getAttribute("data-first") === "desc";
        sortTable(table, index, descending);
      });
    });
  });

  // Segmented buttons show one chart variant of their section.
  document.querySelectorAll(".seg").forEach(function (group) {
    var section = group.closest("section");
    group.querySelectorAll("button").forEach(function (button) {
      button.addEventListener("click", function () {
        var key = button.getAttribute("data-show");
        group.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
        section.querySelectorAll("[data-variant]").forEach(function (figure) {
          figure.hidden = figure.getAttribute("data-variant") !== key;
        });
      });
    });
  });

  // The gallery shows its first few images until "show all"; the rest are hidden, whatever the order.
  function applyLimit(list) {
    var first = parseInt(list.getAttribute("data-first"), 10) || 0;
    var all = list.getAttribute("data-expanded") === "true";
    Array.prototype.forEach.call(list.children, function (item, index) { item.hidden = !all && index >= first; });
  }

  document.querySelectorAll("[data-more]").forEach(function (button) {
    var list = button.closest("section").querySelector(".gallery-list");
    button.addEventListener("click", function () {
      list.setAttribute("data-expanded", "true");
      applyLimit(list);
      button.hidden = true;
    });
  });

  // The gallery, worst first by the chosen model's IoU (or the mean of all); unscored images last.
  document.querySelectorAll(".gallery-sort").forEach(function (select) {
    var list = select.closest("section").querySelector(".gallery-list");
    select.addEventListener("change", function () {
      var key = "data-sort-" + select.value;
      var items = Array.prototype.slice.call(list.children).map(function (item, position) {
        var value = item.getAttribute(key);
        return { item: item, value: value === null || value === "" ? null : parseFloat(value), position: position };
      });
      items.sort(function (a, b) {
        if ((a.value === null) !== (b.value === null)) return a.value === null ? 1 : -1;
        return (a.value === null ? 0 : a.value - b.value) || a.position - b.position;
      });
      items.forEach(function (entry) { list.appendChild(entry.item); });
      applyLimit(list);
    });
  });
})();
