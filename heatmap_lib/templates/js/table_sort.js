/* The heat map's table sort (seed 000), one rule for every table that adopts it (the snapshot's account table;
   the live table later): a header's first click sorts ascending, the second descending, the third turns that
   column's sort off; clicking other headers adds them as further sorts, in click order, and each sorted header
   shows its direction and, with more than one, its priority. Rows with no value (no NPS, for example) come last
   in either direction; ties keep the table's default order (by account name). */
(function (root) {
  "use strict";
  if (root.HeatmapTableSort) return;
  /** The sort after a click on `key`: a list of [key, "asc"|"desc"], first = main sort. */
  function next(state, key) {
    const out = state.map(function (s) { return [s[0], s[1]]; });
    const at = out.findIndex(function (s) { return s[0] === key; });
    if (at < 0) out.push([key, "asc"]);
    else if (out[at][1] === "asc") out[at][1] = "desc";
    else out.splice(at, 1);
    return out;
  }
  function missing(v) {
    return v === null || v === undefined || v === "" || (typeof v === "number" && v !== v);
  }
  /** Row positions 0..n-1 in sorted order; `value(key, i)` gives a number or a (case-folded) text. */
  function order(n, state, value) {
    const idx = [];
    for (let i = 0; i < n; i++) idx.push(i);
    if (!state.length) return idx;
    idx.sort(function (i, j) {
      for (const [key, dir] of state) {
        const a = value(key, i), b = value(key, j), ma = missing(a), mb = missing(b);
        if (ma || mb) {
          if (ma && mb) continue;
          return ma ? 1 : -1;  // no value: last, ascending or descending
        }
        const c = a < b ? -1 : a > b ? 1 : 0;
        if (c) return dir === "desc" ? -c : c;
      }
      return i - j;
    });
    return idx;
  }
  /** What a header shows: "" (not sorted), "\u25b2"/"\u25bc", with the priority when several columns sort. */
  function mark(state, key) {
    const at = state.findIndex(function (s) { return s[0] === key; });
    if (at < 0) return "";
    const arrow = state[at][1] === "asc" ? "\u25b2" : "\u25bc";
    return state.length > 1 ? arrow + (at + 1) : arrow;
  }
  /** The same in words, for the header's title and screen readers. */
  function describe(state, key) {
    const at = state.findIndex(function (s) { return s[0] === key; });
    if (at < 0) return "not sorted; click to sort ascending";
    const dir = state[at][1] === "asc" ? "ascending; click for descending" : "descending; click to stop sorting by it";
    return (state.length > 1 ? "sort " + (at + 1) + " of " + state.length + ", " : "sorted ") + dir;
  }
  root.HeatmapTableSort = {next: next, order: order, mark: mark, describe: describe, missing: missing};
})(window);
