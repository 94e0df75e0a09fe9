// Sort a table by the clicked column: first click ascending, the next descending. A cell's
// data-sort attribute, when present, is its sort key; numeric columns put empty cells last.
(function () {
  "use strict";
  function key(cell, numeric) {
    let raw = cell.getAttribute("data-sort");
    if (raw === null) raw = cell.textContent.trim();
    if (!numeric) return raw.toLowerCase();
    const value = parseFloat(raw);
    return Number.isNaN(value) ? null : value;
  }
  function sortBy(table, th, col) {
    const numeric = th.getAttribute("data-type") === "number";
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    const body = table.tBodies[0];
    const rows = Array.from(body.rows, (row, i) => ({ row, i, k: key(row.cells[col], numeric) }));
    rows.sort((a, b) => {
      if (a.k === null || b.k === null) return a.k === b.k ? a.i - b.i : a.k === null ? 1 : -1;
      const c = a.k < b.k ? -1 : a.k > b.k ? 1 : 0;
      return (ascending ? c : -c) || a.i - b.i;
    });
    rows.forEach((r) => body.appendChild(r.row));
    Array.from(table.tHead.rows[0].cells).forEach((h) => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable").forEach((table) => {
    Array.from(table.tHead.rows[0].cells).forEach((th, col) => {
      th.tabIndex = 0;
      th.addEventListener("click", () => sortBy(table, th, col));
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          sortBy(table, th, col);
        }
      });
    });
  });
})();
