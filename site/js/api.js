// api.js: window.llmviz before anything else of the page runs. boot.js imports it first and it
// waits for nothing, so a script of the page (or of a parent page, through the frame) can await
// `ready` and `live` as soon as the document has loaded, while boot.js (which first waits for
// its catalogue, i18n.js) adds the rest of the API:
//   ready   resolves with {python, numpy, model, live: false, ...} once the views are up on the
//           bundled trace, or rejects with a readable reason
//   live    resolves once the model worker has started ({live: true, ...}) or is known not to
//           ({live: false, error?})
// boot.js's llmviz._boot settles them (settleReady, settleLive).

export const llmviz = (window.llmviz = window.llmviz || {});

export let settleReady;
llmviz.ready = new Promise((resolve, reject) => { settleReady = { resolve, reject }; });
llmviz.ready.catch(() => {}); // a rejection is shown in the page; no "unhandled" noise

export let settleLive;
llmviz.live = new Promise((resolve) => { settleLive = resolve; });
