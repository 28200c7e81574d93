/* The live account table's sort (a Bokeh DataTable in JupyterLab) by seed 000's rule, table_sort.js's `next` and
   `order`. The body of a CustomJS with args `table` (the DataTable), `sort` (its table.TableSort, whose `state` the
   kernel reads for exports) and `titles` ({field: header title} of the sortable columns). It runs when the document
   is ready and when the table's data change; installing is idempotent.

   Bokeh's own sort is off (DataTable.sortable=False): a header click sets `sort.state` to `next(state, field)`;
   any change of `sort.state` (from a click or from the kernel) re-orders the grid's rows and rewrites the headers
   ("NPS ▲2"). New data (a filter change) and a re-rendered grid keep the sort.

   `accounts` (a ColumnDataSource, or null) holds the static per-account columns of a live table
   (table.STATIC_COLUMNS: the name's escaped HTML, its sort key, the manager, the value), sent once: the table's
   source then holds each row's `acc`, its row in `accounts`, and what a filter changes. The grid's data provider
   gives each row those columns (`fill`), so the cells' formatters and this sort read them like any other. */
const Sort = window.HeatmapTableSort;

function column(data, key) {
  return data instanceof Map ? data.get(key) : data[key];
}

function keys(data) {
  return data instanceof Map ? [...data.keys()] : Object.keys(data);
}

/* The value of `key` at a source row: the table's own column, else the static column through `acc`. */
function reader(key) {
  const data = table.source.data, own = column(data, key);
  if (own != null || accounts == null) return (i) => (own == null ? undefined : own[i]);
  const shared = column(accounts.data, key), acc = column(data, "acc");
  return shared == null || acc == null ? () => undefined : (i) => shared[acc[i]];
}

/* The grid's rows get the static columns (once per data provider: a re-rendered grid has a new one). */
function fill(provider) {
  if (accounts == null || provider == null || provider.__heatmap_texts) return;
  provider.__heatmap_texts = true;
  const get_item = provider.getItem.bind(provider);
  provider.getItem = function (offset) {
    const item = get_item(offset), at = item.acc, shared = accounts.data;
    if (at == null) return item;
    for (const key of keys(shared)) if (!(key in item)) item[key] = column(shared, key)[at];
    return item;
  };
  provider.getField = function (offset, key) {
    return provider.getItem(offset)[key];
  };
}

function apply(view) {
  const grid = view.grid, provider = view.data;
  if (grid == null || provider == null) return;
  fill(provider);
  const state = sort.state.filter((s) => s[0] in titles);
  if (!state.length && !view.__heatmap_marked) return;  // the grid shows the source's order, unmarked: nothing to do
  view.__heatmap_marked = state.length > 0;
  const base = Array.from(provider.index).sort((a, b) => a - b);  // the source's order: by account name
  const readers = new Map(state.map((s) => [s[0], reader(s[0])]));
  const value = (key, k) => {
    const v = readers.get(key)(base[k]);
    return typeof v === "string" ? v.toLowerCase() : v;
  };
  provider.index = Sort.order(base.length, state, value).map((k) => base[k]);
  grid.invalidate();
  view.updateSelection();
  grid.render();
  for (const c of grid.getColumns()) {
    if (!(c.field in titles)) continue;
    const mark = Sort.mark(state, c.field);
    const title = titles[c.field] + (mark ? ` <span class="hm-sort-mark">${mark}</span>` : "");
    grid.updateColumnHeader(c.id, title, Sort.describe(state, c.field));
  }
}

function hook(view) {
  view.grid.onHeaderClick.subscribe((_event, args) => {
    const field = args.column && args.column.field;
    if (field in titles) sort.state = Sort.next(sort.state, field);
  });
}

function install(view) {
  if (view.__heatmap_sort) return;
  view.__heatmap_sort = true;
  const render_table = view._render_table;
  const update_grid = view.updateGrid;
  view._render_table = function () {
    render_table.call(view);
    view.__heatmap_marked = true;  // a new grid: apply sets its headers and order, marked or not
    hook(view);
    apply(view);
  };
  view.updateGrid = function () {
    update_grid.call(view);
    apply(view);
  };
  view.__heatmap_marked = true;
  hook(view);
  apply(view);
}

function views() {
  const index = window.Bokeh && window.Bokeh.index;
  return index ? [...index.query((v) => v.model === table && v.grid != null)] : [];
}

if (!sort.__heatmap_sort) {
  sort.__heatmap_sort = true;
  sort.properties.state.change.connect(() => views().forEach(apply));
}
let tries = 0;
(function installAll() {
  const found = views();
  found.forEach(install);
  if (!found.length && tries++ < 100) setTimeout(installAll, 50);  // the view may be built after the document
})();
