// The console's only script of its own: filters a list as one types into its search box
// (<input data-filter="ID">: the rows of #ID whose text does not contain the query are hidden).
// No inline handlers and no eval, as the Content-Security-Policy requires.
"use strict";
document.addEventListener("input", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.dataset.filter) return;
  const list = document.getElementById(box.dataset.filter);
  if (!list) return;
  const query = box.value.trim().toLowerCase();
  for (const row of list.querySelectorAll("[data-filter-row]")) {
    row.hidden = query !== "" && !row.textContent.toLowerCase().includes(query);
  }
});
