/* A snapshot's offline filters, recomputed figures, account table, not-surveyed list and downloads
   (heatmap_lib/offline.py describes the counts). Customer text only ever reaches the page as textContent or
   attribute values set through the DOM, never as HTML. One instance per snapshot: __UID__ is its hex id. */
(function () {
  "use strict";
  const UID = "__UID__";
  const parts = document.querySelectorAll('[data-hm-uid="' + UID + '"]');  // header, controls, table, lists
  const root = {querySelector: function (sel) {
    for (const part of parts) { if (part.matches(sel)) return part; const e = part.querySelector(sel); if (e) return e; }
    return null;
  }};
  const dataEl = document.getElementById("hm-data-" + UID);
  if (!parts.length || !dataEl) return;
  const meta = JSON.parse(document.getElementById("hm-meta-" + UID).textContent);
  const Sort = window.HeatmapTableSort;
  const BANDS = ["green", "yellow", "red", "gray"];
  const BAND_RANK = {green: 0, yellow: 1, red: 2, gray: 3};  // also the chart's drawing order (chart.draw_order)
  const BAND_LABELS = {green: "Positive", yellow: "Neutral", red: "Negative", gray: "Silent"};
  const Z95 = 1.959963984540054;

  function bytesOf(b64) {
    const bin = atob(b64.trim()), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }
  function unpack(list) { return Uint32Array.from(list); }
  // the counts: gzip-compressed JSON in base64 (offline.payload_blob), inflated by the browser
  const inflated = new Blob([bytesOf(dataEl.textContent)]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Response(inflated).text().then(function (text) { start(JSON.parse(text)); });

  function start(raw) {
  function decode(p) {
    const d = {raw: p, n: p.accounts.id.length, cells: {}, contacts: {}, attrs: {}};
    for (const k in p.cells) d.cells[k] = unpack(p.cells[k]);
    d.contacts.acc = unpack(p.contacts.acc);
    d.contacts.role = unpack(p.contacts.role);
    d.contacts.mask = unpack(p.contacts.mask);
    d.contacts.words = p.contacts.words;
    for (const c in p.attrs) d.attrs[c] = {values: p.attrs[c].values, codes: unpack(p.attrs[c].codes)};
    return d;
  }

  /* Per account, under a selection {column: [values]} (account columns, role, questionnaire, wave; absent or
     empty = all) and `name` (a case-insensitive part of the account name): the six counts and the derived
     figures, as metrics.account_summary computes them. `in_scope[i]`: the account passes the account filters. */
  function computeAccounts(d, selection) {
    const p = d.raw, n = d.n, sel = selection || {};
    const chosen = function (key) { const v = sel[key]; return v && v.length ? new Set(v) : null; };
    const inScope = new Uint8Array(n).fill(1);
    for (const c in d.attrs) {
      const want = chosen(c);
      if (!want) continue;
      const a = d.attrs[c];
      for (let i = 0; i < n; i++) if (!want.has(a.values[a.codes[i]])) inScope[i] = 0;
    }
    const part = (sel.name || "").trim().toLocaleLowerCase();
    if (part) for (let i = 0; i < n; i++) if (p.accounts.name[i].toLocaleLowerCase().indexOf(part) < 0) inScope[i] = 0;
    const roles = chosen("role"), qs = chosen("questionnaire"), ws = chosen("wave");
    const roleOk = p.roles.map(function (r) { return !roles || roles.has(r); });
    const pairOk = p.pairs.map(function (qw) { return (!qs || qs.has(qw[0])) && (!ws || ws.has(qw[1])); });
    const words = d.contacts.words, want = new Uint32Array(words);
    pairOk.forEach(function (ok, k) { if (ok) want[k >> 5] |= (1 << (k & 31)) >>> 0; });
    const out = {
      in_scope: inScope, contacts_invited: new Int32Array(n), invitations: new Int32Array(n),
      responses: new Int32Array(n), promoters: new Int32Array(n), passives: new Int32Array(n),
      detractors: new Int32Array(n), response_rate: new Float64Array(n), nps: new Float64Array(n),
      nps_low: new Float64Array(n), nps_high: new Float64Array(n), band: new Array(n), small_sample: new Uint8Array(n),
    };
    const c = d.cells;
    for (let k = 0; k < c.acc.length; k++) {
      const i = c.acc[k];
      if (!inScope[i] || !roleOk[c.role[k]] || !pairOk[c.pair[k]]) continue;
      out.invitations[i] += c.inv[k]; out.promoters[i] += c.p[k]; out.passives[i] += c.pa[k]; out.detractors[i] += c.d[k];
    }
    const ca = d.contacts.acc, cr = d.contacts.role, cm = d.contacts.mask;
    for (let j = 0; j < ca.length; j++) {
      const i = ca[j];
      if (!inScope[i] || !roleOk[cr[j]]) continue;
      for (let w = 0; w < words; w++) if ((cm[j * words + w] & want[w]) !== 0) { out.contacts_invited[i]++; break; }
    }
    const t = p.thresholds;
    for (let i = 0; i < n; i++) {
      const pr = out.promoters[i], pa = out.passives[i], de = out.detractors[i], r = pr + pa + de, inv = out.invitations[i];
      out.responses[i] = r;
      out.response_rate[i] = inv > 0 ? r / inv : 0;
      if (r === 0) {
        out.nps[i] = out.nps_low[i] = out.nps_high[i] = NaN;
        out.band[i] = "gray";
        continue;
      }
      const score = 100 * (pr - de) / r;
      const na = r + 3, pp = (pr + 0.75) / na, dd = (de + 0.75) / na, centre = pp - dd;
      const half = Z95 * Math.sqrt(Math.max(pp + dd - centre * centre, 0) / na);
      out.nps[i] = score;
      out.nps_low[i] = Math.min(100, Math.max(-100, 100 * (centre - half)));
      out.nps_high[i] = Math.min(100, Math.max(-100, 100 * (centre + half)));
      out.band[i] = score < t.red_below ? "red" : score > t.green_above ? "green" : "yellow";
      out.small_sample[i] = r < p.small_sample ? 1 : 0;
    }
    return out;
  }

  const data = decode(raw);
  const N = data.n, SURVEYED = raw.accounts.surveyed;
  const names = raw.accounts.name, values = raw.accounts.value;
  const folded = names.map(function (s) { return s.toLocaleLowerCase(); });
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function whole(x) { return Math.round(x).toLocaleString("en-US"); }
  function minus(s) { return s.replace("-", "\u2212"); }
  /* x with one decimal as Python's format writes it: toFixed, except that an exact tie (x = k/4, odd k) goes to
     the even digit, as Python rounds, where toFixed goes up. */
  function fixed1(x) {
    const a = Math.abs(x), fr = a - Math.floor(a);
    if (fr !== 0.25 && fr !== 0.75) return x.toFixed(1);
    const n = Math.floor(a * 10), even = n % 2 === 0 ? n : n + 1;
    return (x < 0 && even !== 0 ? "-" : "") + (even / 10).toFixed(1);
  }
  function one(x) { return x !== x ? "" : minus(fixed1(x)); }
  function pct(x) { return fixed1(x * 100) + "%"; }
  function pyRound(x) {  // Python's format rounding of a double to a whole number: half to even
    const r = Math.round(x);
    return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
  }

  // ---- the controls -----------------------------------------------------------------------------------------
  const controls = root.querySelector(".hm-controls");
  const facets = [];  // {key, label, options: [[value, text]]}
  for (const c in raw.attrs) facets.push({key: c, label: raw.attrs[c].label, options: raw.attrs[c].values.map(function (v) { return [v, v]; })});
  facets.push({key: "role", label: "Role", options: raw.roles.map(function (r, k) { return [r, raw.role_labels[k]]; })});
  const qs = [], ws = [];
  for (const qw of raw.pairs) { if (qs.indexOf(qw[0]) < 0) qs.push(qw[0]); if (ws.indexOf(qw[1]) < 0) ws.push(qw[1]); }
  facets.push({key: "questionnaire", label: "Questionnaire", options: qs.map(function (q) { return [q, q]; })});
  facets.push({key: "wave", label: "Wave", options: ws.map(function (w) { return [w, w]; })});
  facets.push({key: "band", label: "Band", options: BANDS.map(function (b) { return [b, BAND_LABELS[b]]; })});
  const boxes = {};
  const facetBox = controls.querySelector(".hm-facets");
  for (const f of facets) {
    if (f.options.length < 2) continue;  // one value: nothing to choose (the header names it)
    const det = el("details", {"class": "hm-facet", "data-column": f.key});
    const sum = el("summary", {}, f.label + ": all");
    det.appendChild(sum);
    const list = el("div", {"class": "hm-options"});
    boxes[f.key] = {summary: sum, label: f.label, inputs: []};
    for (const [v, text] of f.options) {
      const lab = el("label");
      const input = el("input", {type: "checkbox"});
      input.value = v;
      input.dataset.column = f.key;
      input.addEventListener("change", apply);
      lab.appendChild(input);
      lab.appendChild(document.createTextNode(" " + text));
      list.appendChild(lab);
      boxes[f.key].inputs.push([input, text]);
    }
    det.appendChild(list);
    facetBox.appendChild(det);
  }
  const search = controls.querySelector("input.hm-search");
  search.addEventListener("input", apply);
  const moved = controls.querySelector("input[data-column=moved]");
  if (moved) moved.addEventListener("change", apply);
  const trails = controls.querySelector("input.hm-trails");
  if (trails) trails.addEventListener("change", apply);
  controls.querySelector(".hm-reset").addEventListener("click", function () {
    for (const k in boxes) for (const [input] of boxes[k].inputs) input.checked = false;
    search.value = "";
    if (moved) moved.checked = false;
    if (trails) trails.checked = true;
    apply();
  });

  function selection() {
    const sel = {};
    for (const k in boxes) {
      const on = boxes[k].inputs.filter(function (x) { return x[0].checked; });
      if (on.length) sel[k] = on.map(function (x) { return x[0].value; });
    }
    if (search.value.trim()) sel.name = search.value;
    return sel;
  }
  function inWords(sel) {
    const parts = [];
    for (const k in boxes) {
      const on = boxes[k].inputs.filter(function (x) { return x[0].checked; });
      const text = on.map(function (x) { return k === "role" ? x[1].toLowerCase() : x[1]; }).join(", ");
      boxes[k].summary.textContent = boxes[k].label + ": " + (on.length ? text : "all");
      if (on.length) parts.push(boxes[k].label + ": " + text);
    }
    if (sel.name) parts.push("Name contains \u201c" + sel.name.trim() + "\u201d");
    if (moved && moved.checked) parts.push("only accounts that moved");
    return parts;
  }

  // ---- the chart (Bokeh models found by name once the document is ready) ----------------------------------
  function models() {
    for (const doc of (window.Bokeh && window.Bokeh.documents) || []) {
      const src = doc.get_model_by_name("hm-source-" + UID + "-0");
      if (!src) continue;
      const get = function (n) { return doc.get_model_by_name(n + "-" + UID); };
      const trailModels = [];
      for (let k = 0; ; k++) { const r = doc.get_model_by_name("hm-trail-" + UID + "-" + k); if (!r) break; trailModels.push(r); }
      return {source: src, filter: doc.get_model_by_name("hm-filter-" + UID + "-0"), vguide: get("hm-guide-value"),
              fguide: get("hm-guide-footprint"), empty: get("hm-empty"),
              trails: trailModels};
    }
    return null;
  }
  function median(xs) {
    if (!xs.length) return null;
    const s = xs.slice().sort(function (a, b) { return a - b; }), m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  }
  let pendingChart = null;
  function drawChart(fig, shown, contactFilters) {
    const m = models();
    if (!m) { pendingChart = [fig, shown, contactFilters]; setTimeout(retryChart, 50); return; }
    const src = m.source, d = src.data, rows = Array.from(d.hm_row), len = rows.length;  // row -> account
    const upd = {};
    const put = function (name, make) { if (d[name] !== undefined) upd[name] = make(); };
    const sz = raw.sizes;
    put("contacts_invited", function () { return rows.map(function (i) { return fig.contacts_invited[i]; }); });
    put("size", function () { return new Float64Array(rows.map(function (i) {
      const r = Math.min(1, Math.max(0, fig.response_rate[i]));
      return Math.sqrt(sz.min * sz.min + r * (sz.max * sz.max - sz.min * sz.min)); })); });
    put("band", function () { return rows.map(function (i) { return fig.band[i]; }); });
    // a silent account's hover_nps is 1000 (report.SILENT_NPS): Bokeh shows "NaN" for a NaN field, unformatted
    put("hover_nps", function () { return new Float32Array(rows.map(function (i) { return fig.nps[i] === fig.nps[i] ? pyRound(fig.nps[i]) : 1000; })); });
    put("hover_nps_low", function () { return new Float32Array(rows.map(function (i) { return fig.nps_low[i] === fig.nps_low[i] ? pyRound(fig.nps_low[i]) : NaN; })); });
    put("hover_nps_high", function () { return new Float32Array(rows.map(function (i) { return fig.nps_high[i] === fig.nps_high[i] ? pyRound(fig.nps_high[i]) : NaN; })); });
    // the answers behind a small sample (0: not one), as report.py sends it: the hover's note says how many
    put("hover_small", function () { return new Int16Array(rows.map(function (i) { return fig.small_sample[i] ? Math.max(1, fig.responses[i]) : 0; })); });
    put("hover_rate", function () { return new Int16Array(rows.map(function (i) { return pyRound(fig.response_rate[i] * 100); })); });
    put("hover_responses", function () { return new Int32Array(rows.map(function (i) { return fig.responses[i]; })); });
    put("hover_invitations", function () { return new Int32Array(rows.map(function (i) { return fig.invitations[i]; })); });
    const nd = drawOrder(Object.assign({}, d, upd), len);
    src.selected.indices = [];
    src.data = nd;
    const keep = [], xs = [], ys = [], nrows = nd.hm_row;
    for (let r = 0; r < len; r++) {
      const i = nrows[r];
      if (!shown[i]) continue;
      if (moved && moved.checked && nd.moved && nd.moved[r] !== 1) continue;
      keep.push(r); xs.push(nd.x[r]); ys.push(fig.contacts_invited[i]);
    }
    m.filter.indices = keep;
    if (m.vguide) m.vguide.location = median(xs);
    if (m.fguide) m.fguide.location = median(ys);
    if (m.empty) m.empty.visible = keep.length === 0;
    const trailsOn = !contactFilters && (!trails || trails.checked);
    for (const r of m.trails) r.visible = trailsOn;
    const note = controls.querySelector(".hm-trail-note");
    if (note) note.hidden = !contactFilters;
  }
  /* The columns with their rows in drawing order, as chart.draw_order sorts them (one renderer draws rows in
     order, later on top; the hover and a click take the last row under the pointer): bands green, yellow, red,
     gray, then largest first, then the page's account order. The bands and sizes change with the filters. */
  const TYPED = [Float64Array, Float32Array, Int32Array, Int16Array, Int8Array, Uint32Array, Uint16Array, Uint8Array];
  function drawOrder(cols, len) {
    const band = cols.band, size = cols.size, row = cols.hm_row;
    const order = Array.from({length: len}, function (_, r) { return r; });
    order.sort(function (a, b) {
      return (BAND_RANK[band[a]] - BAND_RANK[band[b]]) || (size[b] - size[a]) || (row[a] - row[b]);
    });
    const out = {};
    for (const k in cols) {
      const col = cols[k];
      if (col == null || col.length !== len) { out[k] = col; continue; }
      const T = TYPED.find(function (t) { return col instanceof t; });
      const next = T ? new T(len) : new Array(len);
      for (let r = 0; r < len; r++) next[r] = col[order[r]];
      out[k] = next;
    }
    return out;
  }
  function retryChart() { if (pendingChart) { const a = pendingChart; pendingChart = null; drawChart(a[0], a[1], a[2]); } }

  // ---- the table --------------------------------------------------------------------------------------------
  const COLUMNS = [
    ["account", "Account"], ["account_manager", "Account manager"], ["value", "Value"],
    ["contacts_invited", "Contacts invited"], ["response_rate", "Response rate"], ["nps", "NPS"],
    ["interval", "NPS 95% interval"], ["band", "Band"],
  ];
  const manager = data.attrs.account_manager;
  function managerOf(i) { return manager ? manager.values[manager.codes[i]] : ""; }
  let sortState = [];
  let current = null;  // {fig, rows}
  const table = root.querySelector("table.hm-accounts");
  const head = table.querySelector("thead tr"), body = table.querySelector("tbody");
  const ths = {};
  for (const [key, label] of COLUMNS) {
    const th = el("th", {scope: "col", "data-key": key, tabindex: "0", role: "button"});
    th.appendChild(el("span", {}, label));
    th.appendChild(el("span", {"class": "hm-mark"}));
    if (["value", "contacts_invited", "response_rate", "nps"].indexOf(key) >= 0) th.className = "hm-num";
    const click = function () { sortState = Sort.next(sortState, key); render(); };
    th.addEventListener("click", click);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); click(); } });
    head.appendChild(th);
    ths[key] = th;
  }
  function sortValue(fig) {
    return function (key, i) {
      switch (key) {
        case "account": return folded[i];
        case "account_manager": return managerOf(i).toLocaleLowerCase();
        case "value": return values[i];
        case "interval": return fig.nps_low[i];
        case "band": return BAND_RANK[fig.band[i]];
        default: return fig[key][i];
      }
    };
  }
  function cellTexts(fig, i) {
    const silent = fig.responses[i] === 0;
    return [
      names[i], managerOf(i), values[i] === null ? "" : whole(values[i]), fig.contacts_invited[i].toLocaleString("en-US"),
      pct(fig.response_rate[i]) + " (" + fig.responses[i].toLocaleString("en-US") + " of " + fig.invitations[i].toLocaleString("en-US") + ")",
      silent ? "no response" : one(fig.nps[i]) + (fig.small_sample[i] ? " (small sample)" : ""),
      silent ? "" : one(fig.nps_low[i]) + " to " + one(fig.nps_high[i]),
      BAND_LABELS[fig.band[i]],
    ];
  }
  function render() {
    const fig = current.fig, shownRows = current.rows;
    const ordered = Sort.order(shownRows.length, sortState, function (key, k) { return sortValue(fig)(key, shownRows[k]); })
      .map(function (k) { return shownRows[k]; });
    current.ordered = ordered;
    for (const [key] of COLUMNS) {
      ths[key].querySelector(".hm-mark").textContent = Sort.mark(sortState, key);
      ths[key].title = Sort.describe(sortState, key);
      ths[key].setAttribute("aria-sort", sortState.length && sortState[0][0] === key ? (sortState[0][1] === "asc" ? "ascending" : "descending") : "none");
    }
    const frag = document.createDocumentFragment();
    for (const i of ordered) {
      const tr = el("tr", {"data-account": raw.accounts.id[i]});
      const texts = cellTexts(fig, i);
      texts.forEach(function (text, k) {
        const td = el("td");
        if (k === 0 && raw.accounts.xray) {
          const a = el("a", {href: raw.accounts.xray[i], target: "_blank", rel: "noopener"}, text);
          td.appendChild(a);
        } else if (k === 7) {
          td.appendChild(el("span", {"class": "hm-dot hm-bg-" + fig.band[i]}));
          td.appendChild(document.createTextNode(text));
        } else {
          td.textContent = text;
        }
        if (k >= 2 && k <= 5) td.className = "hm-num";
        tr.appendChild(td);
      });
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
  }

  // ---- headline cards and the not-surveyed list ------------------------------------------------------------
  function cards(fig, scope, surveyedRows) {
    let inv = 0, pr = 0, pa = 0, de = 0;
    const bands = {green: 0, yellow: 0, red: 0, gray: 0};
    for (const i of surveyedRows) { inv += fig.invitations[i]; pr += fig.promoters[i]; pa += fig.passives[i]; de += fig.detractors[i]; bands[fig.band[i]]++; }
    const r = pr + pa + de;
    const set = function (k, text) { const e = root.querySelector('[data-card="' + k + '"]'); if (e) e.textContent = text; };
    set("accounts", scope.toLocaleString("en-US"));
    set("surveyed", surveyedRows.length.toLocaleString("en-US"));
    set("not_surveyed", (scope - surveyedRows.length).toLocaleString("en-US"));
    set("response_rate", inv ? Math.round(100 * r / inv) + "%" : "0%");
    set("nps", r ? minus((100 * (pr - de) / r >= 0 ? "+" : "") + (Math.round(1000 * (pr - de) / r) / 10).toFixed(1)) : "no response");
    for (const b of BANDS) set("band-" + b, BAND_LABELS[b] + " " + bands[b].toLocaleString("en-US"));
  }
  function notSurveyed(fig) {
    const box = root.querySelector(".hm-not-surveyed");
    if (!box) return;
    const rows = [];
    for (let i = 0; i < N; i++) if (fig.in_scope[i] && fig.invitations[i] === 0) rows.push(i);
    rows.sort(function (a, b) { return (values[b] === null ? -Infinity : values[b]) - (values[a] === null ? -Infinity : values[a]) || (folded[a] < folded[b] ? -1 : 1); });
    box.replaceChildren();
    box.appendChild(el("h3", {}, rows.length ? "Not surveyed: " + rows.length.toLocaleString("en-US") + " account" + (rows.length === 1 ? "" : "s") + " with no invitation under these filters" : "Not surveyed"));
    if (!rows.length) { box.appendChild(el("p", {}, "Every account shown was invited.")); return; }
    const t = el("table", {"class": "hm-table"}), th = el("tr");
    for (const h of ["Account", "Value", "Account manager"]) th.appendChild(el("th", {}, h));
    t.appendChild(el("thead")).appendChild(th);
    const tb = el("tbody");
    for (const i of rows) {
      const tr = el("tr");
      tr.appendChild(el("td", {}, names[i]));
      tr.appendChild(el("td", {"class": "hm-num"}, values[i] === null ? "" : whole(values[i])));
      tr.appendChild(el("td", {}, managerOf(i)));
      tb.appendChild(tr);
    }
    t.appendChild(tb);
    const scroll = el("div", {"class": "hm-scroll"});
    scroll.appendChild(t);
    box.appendChild(scroll);
  }

  // ---- applying a selection ---------------------------------------------------------------------------------
  function apply() {
    const sel = selection();
    const fig = computeAccounts(data, sel);
    const bands = sel.band ? new Set(sel.band) : null;
    delete sel.band;
    const shown = new Uint8Array(N), rows = [], surveyedRows = [];
    let scope = 0;
    for (let i = 0; i < N; i++) {
      if (!fig.in_scope[i]) continue;
      scope++;
      if (fig.invitations[i] === 0) continue;
      surveyedRows.push(i);
      if (bands && !bands.has(fig.band[i])) continue;
      shown[i] = 1;
    }
    const movedCol = moved && moved.checked ? movedFlags() : null;
    for (let i = 0; i < N; i++) if (shown[i] && (!movedCol || movedCol[i])) rows.push(i);
    current = {fig: fig, rows: rows};
    render();
    cards(fig, scope, surveyedRows);
    notSurveyed(fig);
    const words = inWords(selection());
    root.querySelector(".hm-count").textContent = rows.length.toLocaleString("en-US") + " of " + SURVEYED.toLocaleString("en-US") + " accounts shown";
    root.querySelector(".hm-now").textContent = words.length ? "Filters you set: " + words.join("; ") : "No filter set: the report as sent.";
    current.words = words;
    drawChart(fig, shown, !!(sel.role || sel.questionnaire || sel.wave));
  }
  function movedFlags() {
    const m = models(), out = new Uint8Array(N);
    if (!m || !m.source.data.moved) return out;
    const d = m.source.data;
    for (let r = 0; r < d.hm_row.length; r++) if (d.moved[r] === 1) out[d.hm_row[r]] = 1;
    return out;
  }

  // ---- downloads --------------------------------------------------------------------------------------------
  function save(blob, name) {
    const a = el("a", {download: name});
    a.href = URL.createObjectURL(blob);
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
  }
  function csvCell(v) {
    let s = String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;  // a spreadsheet would run it (OWASP CSV injection)
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function tableCsv() {
    const fig = current.fig, lines = [];
    lines.push(["Account", "Account manager", "Value", "Contacts invited", "Invitations", "Responses", "Response rate (%)",
      "NPS", "NPS 95% low", "NPS 95% high", "Band"].map(csvCell).join(","));
    for (const i of current.ordered) {
      const silent = fig.responses[i] === 0;
      const f1 = function (x) { return silent ? "" : fixed1(x); };
      lines.push([names[i], managerOf(i), values[i] === null ? "" : Math.round(values[i]), fig.contacts_invited[i],
        fig.invitations[i], fig.responses[i], fixed1(fig.response_rate[i] * 100),
        f1(fig.nps[i]), f1(fig.nps_low[i]), f1(fig.nps_high[i]), BAND_LABELS[fig.band[i]]].map(csvCell).join(","));
    }
    return lines.join("\r\n") + "\r\n";
  }
  function chartView() {
    if (!window.Bokeh || !window.Bokeh.index) return null;
    for (const v of window.Bokeh.index.all_views ? window.Bokeh.index.all_views() : Object.values(window.Bokeh.index)) {
      if (v.model && v.model.name === "hm-figure-" + UID) return v;
    }
    return null;
  }
  function chartPng(done) {
    const view = chartView();
    if (!view) return;
    const plot = view.export("png").canvas;
    const footer = [meta.title, "Data: " + meta.data + " \u00b7 Segment: " + meta.segment,
      "Report filters: " + meta.filters, current.words.length ? "Filters set in the page: " + current.words.join("; ") : "No filter set in the page",
      "Generated " + meta.generated + " \u00b7 downloaded " + new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC"];
    const ratio = plot.width / Math.max(1, view.el.getBoundingClientRect().width || plot.width);
    const line = Math.round(16 * ratio), pad = Math.round(8 * ratio);
    const out = document.createElement("canvas");
    out.width = plot.width;
    out.height = plot.height + pad * 2 + line * footer.length;
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(plot, 0, 0);
    ctx.fillStyle = "#1f2933";
    ctx.font = Math.round(12 * ratio) + "px sans-serif";
    ctx.textBaseline = "top";
    footer.forEach(function (t, k) { ctx.fillText(t, pad, plot.height + pad + k * line, out.width - 2 * pad); });
    out.toBlob(function (blob) { save(blob, meta.file + ".png"); if (done) done(); }, "image/png");
  }
  const dl = root.querySelector(".hm-downloads");
  dl.querySelector(".hm-dl-png").addEventListener("click", function () { chartPng(); });
  dl.querySelector(".hm-dl-csv").addEventListener("click", function () {
    save(new Blob(["\ufeff" + tableCsv()], {type: "text/csv;charset=utf-8"}), meta.file + ".csv");
  });
  const xlsx = document.getElementById("hm-xlsx-" + UID);
  const xlsxButton = dl.querySelector(".hm-dl-xlsx");
  if (xlsx && xlsxButton) xlsxButton.addEventListener("click", function () {
    save(new Blob([bytesOf(xlsx.textContent)], {type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}), meta.file + ".xlsx");
  });
  dl.querySelector(".hm-dl-print").addEventListener("click", function () { window.print(); });

  window.HeatmapOffline = window.HeatmapOffline || {snapshots: {}};
  window.HeatmapOffline.computeAccounts = computeAccounts;
  window.HeatmapOffline.snapshots[UID] = {
    data: data, apply: apply, compute: function (sel) { return computeAccounts(data, sel); },
    csv: function () { return tableCsv(); }, png: chartPng,
  };
  apply();
  }
})();
