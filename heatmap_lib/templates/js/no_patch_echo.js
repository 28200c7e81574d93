/* Stops the page from sending a kernel's patch back to the kernel (the body of a CustomJS with arg `root`, a model
   of the live document; it runs when the document is ready; installing is idempotent).

   BokehJS applies a patch from the kernel with `sync: false`, and the document change events it raises carry
   `sync === false`: the other side made those changes and has them already. jupyter_bokeh 4.1's view ignores the
   mark and sends every such event back, so each filter change sent the whole chart and table data back to the
   kernel (MBs at 10k accounts, ~350 ms of the page's main thread). Here the document hands its change listeners
   only the events that the page made itself (a click's selection, a header click's sort): those still reach the
   kernel. docs/live.md has the measurements. */
const doc = root.document;
if (doc != null && !doc.__heatmap_no_echo) {
  doc.__heatmap_no_echo = true;
  const trigger = doc._trigger_on_change.bind(doc);
  const fromKernel = (event) =>
    event.sync === false || (Array.isArray(event.events) && event.events.length > 0
      && event.events.every((e) => e.sync === false));
  doc._trigger_on_change = function (event) {
    if (!fromKernel(event)) trigger(event);
  };
}
