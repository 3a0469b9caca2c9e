#include <rote/witness/witness.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rote/base/log.h>

namespace rote::runtime {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

spdlog::logger& log()
{
    static auto logger = rote::logger("runtime.witness");
    return *logger;
}

// A browser that sends more than this in one message is not answering our questions (the largest answer we
// ask for is a few values with their boxes).
constexpr std::size_t max_message = 16u << 20;

// Runs in an isolated world of the page (its own globals: a page cannot replace the functions this calls),
// over the page's live document. Finds the label's visible occurrences from the document's text nodes, then
// the value each belongs to by the document's own structure: the field a <label> names, the next cell of a
// table row (or the cell below a header), the <dd> of a <dt>, the text after the label at the outermost
// level where the label is all the text. Boxes are CSS pixels of the viewport; `view` says how the viewport
// lies on the screen. With `selector` instead of a label: the one visible element it names is the label,
// whatever its words now (a label recorded by its place in the document, on a translated page). Each label
// found says where it is: a selector of tags, ids and classes (never words) that names it alone.
constexpr const char* values_beside_js = R"js(function (label, selector) {
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const key = (s) => norm(s).toLowerCase();
  const out = { values: [], view: { sx: screenX, sy: screenY, ow: outerWidth, oh: outerHeight,
                                    iw: innerWidth, ih: innerHeight, dpr: devicePixelRatio } };
  if (!document.body) return out;
  let named = null;
  if (selector) {
    let all;
    try { all = [...document.querySelectorAll(selector)]; } catch (e) { return out; }
    const visible = all.filter((e) => e.checkVisibility ? e.checkVisibility({ opacityProperty: true, visibilityProperty: true }) : true);
    if (all.length !== 1 || visible.length !== 1 || !key(all[0].textContent)) return out;
    named = all[0];
    label = all[0].textContent;
  }
  const want = key(label);
  if (!want) return out;
  const shown = (el) => {
    if (!el || !el.isConnected) return false;
    if (el.checkVisibility && !el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth;
  };
  const isField = (el) => el.matches('input, textarea, select');
  const textOf = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return norm(node.data);
    if (isField(node)) return norm(node.matches('select') ? (node.selectedOptions[0] || {}).text : node.value);
    return norm(node.innerText);
  };
  const boxOf = (node) => {
    let r;
    if (node.nodeType === Node.TEXT_NODE) {
      const range = document.createRange();
      range.selectNodeContents(node);
      r = range.getBoundingClientRect();
    } else {
      r = node.getBoundingClientRect();
    }
    return { x: r.left, y: r.top, w: r.width, h: r.height };
  };
  const endsWord = (t) => t.length === want.length || !/[\p{L}\p{N}]/u.test(t[want.length]);
  // Whether `outer` holds a field or picture that is not inside `inner`.
  const holdsMore = (outer, inner) =>
    [...outer.querySelectorAll('input, textarea, select, img')].some((e) => !inner.contains(e));
  const skipped = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'TITLE', 'OPTION', 'HEAD']);

  // The label elements: from each text node that is a piece of the label or begins with it, the smallest
  // element holding at least the label's text, then outward while the text stays the same.
  const labels = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = named ? null : walker.nextNode(); n; n = walker.nextNode()) {
    const t = key(n.data);
    if (!t || !(want.includes(t) || (t.startsWith(want) && endsWord(t)))) continue;
    let el = n.parentElement;
    while (el && el !== document.body && key(el.textContent).length < want.length) el = el.parentElement;
    if (!el || el === document.body || skipped.has(el.tagName) || labels.has(el)) continue;
    const text = key(el.textContent);
    const exact = text === want;
    if (!exact && !(text.startsWith(want) && endsWord(text))) continue;
    // Outward while the text stays the label's, but never over a field or picture beside it (a <label> and
    // its <input> in one paragraph: the paragraph's text is the label's, yet it holds the value).
    while (el.parentElement && el.parentElement !== document.body && key(el.parentElement.textContent) === text
           && !holdsMore(el.parentElement, el))
      el = el.parentElement;
    if (shown(el)) labels.set(el, exact);
  }
  if (named) labels.set(named, true); // the selector's element, not the label's words
  const anyExact = [...labels.values()].some((e) => e);
  // A selector that names `el` alone in the document: its tag, stable id and classes, then its parents' while
  // that is not yet one element (at most five levels); '' when none does.
  const stableName = (s) => s && s.length <= 40 && !/\d{2,}/.test(s) && /^[A-Za-z_][\w-]*$/.test(s);
  const part = (e) => e.tagName.toLowerCase() + (stableName(e.id) ? '#' + e.id : '')
    + [...e.classList].filter(stableName).sort().map((c) => '.' + c).join('');
  const selectorOf = (el) => {
    let sel = '';
    for (let e = el, level = 0; e && e !== document.documentElement && level < 5; e = e.parentElement, ++level) {
      sel = sel ? part(e) + ' > ' + sel : part(e);
      let hits;
      try { hits = document.querySelectorAll(sel); } catch (err) { return ''; }
      if (hits.length === 1 && hits[0] === el) return sel;
    }
    return '';
  };

  const valueOf = (el, exact) => {
    const text = key(el.textContent);
    const holds = (outer) => outer && key(outer.textContent) === text;
    const label = el.closest('label');
    if (holds(label) && label.control) return { node: label.control, how: 'field' };
    const cell = el.closest('th, td');
    if (holds(cell) && (exact || cell.tagName === 'TH')) {
      // The next cell of its row holds the value, unless the row is a header row (a header beside a
      // header): then the value is in the cell below, in the label's column.
      const next = cell.nextElementSibling;
      if (next && (next.tagName === 'TD' || (next.tagName === 'TH' && cell.tagName === 'TD')))
        return { node: next, how: 'next cell' };
      const table = cell.closest('table');
      const rows = table ? [...table.rows] : [];
      const at = rows.indexOf(cell.parentElement);
      if (at >= 0 && at + 1 < rows.length && rows[at + 1].cells[cell.cellIndex])
        return { node: rows[at + 1].cells[cell.cellIndex], how: 'cell below' };
      return null;
    }
    const dt = el.closest('dt');
    if (holds(dt)) {
      let dd = dt.nextElementSibling;
      while (dd && dd.tagName === 'DT') dd = dd.nextElementSibling;
      return dd && dd.tagName === 'DD' ? { node: dd, how: 'definition' } : null;
    }
    if (!exact) {
      // The label begins a longer text: the value is the rest of it ("Registration number: 12345678").
      const rest = norm(el.innerText).slice(want.length).replace(/^[\s:\-\u2013\u2014=]+/, '');
      return rest ? { node: el, text: rest, shown: norm(el.innerText), how: 'after' } : null;
    }
    for (let e = el; e && e !== document.body && key(e.textContent) === text; e = e.parentElement) {
      if (e !== el && holdsMore(e, el)) break;
      for (let s = e.nextSibling; s; s = s.nextSibling) {
        if (s.nodeType === Node.TEXT_NODE) {
          if (key(s.data)) return { node: s, how: 'after' };
        } else if (s.nodeType === Node.ELEMENT_NODE && !skipped.has(s.tagName) && shown(s) && textOf(s)) {
          return { node: s, how: 'after' };
        }
      }
    }
    return null;
  };

  for (const [el, exact] of labels) {
    if (anyExact && !exact) continue;
    const v = valueOf(el, exact);
    if (!v) {
      out.values.push({ text: '', how: 'none', exact, box: boxOf(el), where: selectorOf(el) });
      continue;
    }
    const text = v.text !== undefined ? v.text : textOf(v.node);
    out.values.push({ text, shown: v.shown !== undefined ? v.shown : text, how: v.how, exact, box: boxOf(v.node),
                      where: selectorOf(el) });
  }
  return out;
})js";

// Shared by the questions about elements: what an element is called and who it is. Spliced into each
// question's function body (each runs alone in a fresh isolated world).
constexpr const char* element_helpers_js = R"js(
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const key = (s) => norm(s).toLowerCase();
  const view = { sx: screenX, sy: screenY, ow: outerWidth, oh: outerHeight, iw: innerWidth, ih: innerHeight,
                 dpr: devicePixelRatio };
  // An id or name a page generates anew (a run of digits, a leading colon or digit) names nothing twice.
  const stable = (s) => (s && s.length <= 80 && !/\d{3,}/.test(s) && !/^[:\d]/.test(s)) ? s : '';
  const buttonInput = 'input[type=submit], input[type=button], input[type=reset], input[type=image]';
  const interactive = 'a[href], [role=link], button, [role=button], summary, input, textarea, select, ' +
                      '[contenteditable=""], [contenteditable=true], [role=textbox]';
  const isField = (el) => (el.matches('input, textarea, select') && !el.matches(buttonInput)) || el.isContentEditable;
  const roleOf = (el) => {
    const r = el.getAttribute('role');
    if (r) return r.trim().split(/\s+/)[0];
    const t = el.tagName;
    if (t === 'A' && el.hasAttribute('href')) return 'link';
    if (t === 'BUTTON' || t === 'SUMMARY' || el.matches(buttonInput)) return 'button';
    if (t === 'INPUT') {
      const type = (el.getAttribute('type') || 'text').toLowerCase();
      if (type === 'checkbox' || type === 'radio') return type;
      return type === 'search' ? 'searchbox' : 'textbox';
    }
    if (t === 'TEXTAREA' || el.isContentEditable) return 'textbox';
    return t === 'SELECT' ? 'combobox' : '';
  };
  const labelOf = (el) => {
    let s = el.getAttribute('aria-label') || '';
    const by = el.getAttribute('aria-labelledby');
    if (!s && by) s = by.split(/\s+/).map((id) => { const e = document.getElementById(id); return e ? e.textContent : ''; }).join(' ');
    if (!s && el.labels && el.labels.length) s = [...el.labels].map((l) => l.innerText).join(' ');
    if (!s && el.matches(buttonInput)) s = el.value || el.getAttribute('alt') || '';
    if (!s) s = el.getAttribute('title') || el.getAttribute('alt') || '';
    if (!s && !isField(el)) s = el.innerText; // links and buttons are named by their words
    return norm(s).slice(0, 200);
  };
  const hrefOf = (el) => (el.tagName === 'A' && el.href ? String(el.href).split('#')[0] : '').slice(0, 1000);
  const classesOf = (el) => [...el.classList].filter((c) => c.length <= 40 && !/\d{2,}/.test(c)).sort().join(' ').slice(0, 1000);
  const boxOf = (el) => { const r = el.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height }; };
  const identity = (el) => ({ tag: el.tagName.toLowerCase(), id: stable(el.id), name: stable(el.getAttribute('name')),
    role: roleOf(el), label: labelOf(el), placeholder: norm(el.getAttribute('placeholder')).slice(0, 200),
    text: isField(el) ? '' : norm(el.innerText).slice(0, 200), href: hrefOf(el), classes: classesOf(el), box: boxOf(el) });
  const shown = (el) => {
    if (!el || !el.isConnected) return false;
    if (el.checkVisibility && !el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth;
  };
  // The words drawn in an element: never a password's.
  const drawn = (el) => {
    if (el.matches(buttonInput)) return norm(el.value);
    if (el.tagName === 'SELECT') return norm((el.selectedOptions[0] || {}).text);
    if (el.tagName === 'TEXTAREA') return '';
    if (el.tagName === 'INPUT') {
      if ((el.getAttribute('type') || '').toLowerCase() === 'password') return '';
      return norm(el.value) || norm(el.getAttribute('placeholder'));
    }
    return norm(el.innerText);
  };
)js";

// The element under a screen point (x, y in screen pixels), by the same placing of the viewport on the screen
// as Viewport below, as a person would name it, and the identity of the link, button or field it is in.
constexpr const char* element_at_js = R"js(
  const dpr = devicePixelRatio;
  const left = screenX + Math.max(0, (outerWidth - innerWidth) / 2), top = screenY + Math.max(0, outerHeight - innerHeight);
  const el = document.elementFromPoint(x / dpr - left, y / dpr - top);
  const out = { values: [], view };
  if (!el || el === document.body || el === document.documentElement) return out;
  let kind = '', target = el;
  const link = el.closest('a[href], [role=link]');
  const button = el.closest('button, [role=button], ' + buttonInput + ', summary');
  const field = el.closest('input, textarea, select, label, [contenteditable=""], [contenteditable=true]');
  if (link) { kind = 'link'; target = link; }
  else if (button) { kind = 'button'; target = button; }
  else if (field) { kind = 'field'; target = field.tagName === 'LABEL' && field.control ? field.control : field; }
  else if ((el.innerText || '').trim()) kind = 'text';
  if (kind) out.values.push({ kind, identity: identity(target) });
  return out;
)js";

// The visible elements with a recorded identity (Witness::find).
constexpr const char* find_js = R"js(
  const tag = rec.tag;
  // Drawn, and not under something else at its centre (a banner, a dialog over the page).
  const onTop = (e) => {
    const r = e.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return !!hit && (hit === e || e.contains(hit) || (hit.tagName === 'LABEL' && hit.control === e));
  };
  const visible = (sel) => [...document.querySelectorAll(sel)].filter((e) => e.tagName.toLowerCase() === tag && shown(e) && onTop(e));
  let found = [], by = '';
  const byId = rec.id ? document.getElementById(rec.id) : null;
  if (byId && byId.tagName.toLowerCase() === tag) {
    found = shown(byId) && onTop(byId) ? [byId] : [];
    by = 'id';
  } else {
    if (rec.name) { found = visible(tag + '[name="' + CSS.escape(rec.name) + '"]'); by = 'name'; }
    if (!found.length && rec.role && (rec.label || rec.placeholder)) {
      found = visible(tag).filter((e) => roleOf(e) === rec.role && key(labelOf(e)) === key(rec.label)
                                       && key(e.getAttribute('placeholder')) === key(rec.placeholder));
      by = 'role and name';
    }
    if (!found.length && rec.text) {
      found = visible(tag).filter((e) => !isField(e) && key(e.innerText) === key(rec.text));
      by = 'text';
    }
    // Then the stable selectors: where a link leads, the element's classes (one match only counts).
    if (!found.length && rec.href) { found = visible(tag).filter((e) => hrefOf(e) === rec.href); by = 'href'; }
    if (!found.length && rec.classes) {
      found = visible(tag).filter((e) => classesOf(e) === rec.classes && roleOf(e) === rec.role);
      by = 'classes';
    }
  }
  // A field that shows no words is named by its <label>: where that is drawn and what it reads.
  const labelled = (e) => {
    const l = e.labels && e.labels.length ? [...e.labels].find(shown) : null;
    return l && norm(l.innerText) ? { labelText: norm(l.innerText).slice(0, 200), labelBox: boxOf(l) } : {};
  };
  return { values: found.map((e) => ({ box: boxOf(e), by, shown: drawn(e), ...labelled(e) })), view };
)js";

// The URL and the focus, with a digest of the focused field's value (FNV-1a over its UTF-16 units) and its
// caret; a password's length only. Read once the page has drawn a frame (a document just committed
// has painted, not the one before it still held on the screen) and after a turn of its tasks (a navigation
// an input set off in a task of its own, a script's form.submit(), has begun by then, and the document has
// said so: inputs_js's `unloading`); read at once, the document before it was "complete".
constexpr const char* state_js = R"js(
  const turn = (f) => setTimeout(f, 0);
  return new Promise((done) => (document.hidden ? turn : requestAnimationFrame)(() => turn(() => done(read()))));
  function read() {
  const a = document.activeElement;
  const out = { values: [], view, url: location.href, loaded: document.readyState === 'complete', field: false,
                digest: 0, length: 0, start: -1, end: -1 };
  const seen = window.roteInputs, now = performance.now();
  const going = seen && seen.leaving; // a form sent, a link followed (inputs_js)
  if (going && !going.e.defaultPrevented && now - going.at < 5000) out.loaded = false;
  if (seen && now - seen.unloading < 5000) out.loaded = false; // a navigation has begun
  if (!a || a === document.body || a === document.documentElement) return out;
  out.values.push({ identity: identity(a) });
  if (!isField(a)) return out;
  out.field = true;
  const value = a.isContentEditable ? a.innerText : String(a.value || '');
  out.length = value.length;
  if (a.tagName === 'INPUT' && (a.getAttribute('type') || '').toLowerCase() === 'password') return out;
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; ++i) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193) >>> 0;
  out.digest = h;
  try {
    if (typeof a.selectionStart === 'number') { out.start = a.selectionStart; out.end = a.selectionEnd; }
  } catch (e) {}
  return out;
  }
)js";

// The trusted input events that end an action (a key let go, a button let go, a turn of the wheel) the
// document has received since rote first asked, and whether the document is on its way out: capture and
// bubble listeners on the window, made once per document in rote's isolated world (its own globals, which the
// page cannot see). An action's end is counted, not its start: the browser hands the page a key's press and
// its character as two tasks, and a button's press and release as two, and what Return or a link does (a form
// sent, a link followed) happens after the press. By the release, the page has sent the form or followed the
// link, and says so in `leaving`: a form sent or a link to another document clicked, which no handler of the
// page prevented (a router that handles its own links prevents the default and stays in the document). Any
// navigation of the document, a script's too, sets `unloading` when it begins (beforeunload).
constexpr const char* inputs_js = R"js(function () {
  if (!window.roteInputs) {
    const seen = { n: 0, leaving: null, unloading: -Infinity };
    window.addEventListener('beforeunload', () => { seen.unloading = performance.now(); }); // a navigation begins
    for (const type of ['keyup', 'pointerup', 'wheel'])
      window.addEventListener(type, (e) => { if (e.isTrusted) ++seen.n; }, true);
    const here = (target) => !target || ['_self', '_top', '_parent'].includes(target.trim().toLowerCase());
    const elsewhere = (href) => {
      try {
        const to = new URL(href, document.baseURI).href, bare = (url) => url.split('#')[0];
        if (!/^https?:/.test(to)) return false;
        return !to.includes('#') || bare(to) !== bare(location.href); // to a fragment of this one, it stays
      } catch (e) { return false; }
    };
    window.addEventListener('click', (e) => {
      if (!e.isTrusted || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
      const link = e.composedPath().find((n) => n.nodeType === 1 && (n.localName === 'a' || n.localName === 'area')
                                                && n.hasAttribute('href'));
      if (link && !link.hasAttribute('download') && here(link.getAttribute('target'))
          && elsewhere(link.getAttribute('href')))
        seen.leaving = { e, at: performance.now() };
    });
    window.addEventListener('submit', (e) => {
      const form = e.target, by = e.submitter;
      const method = ((by && by.getAttribute('formmethod')) || form.getAttribute('method') || 'get').trim().toLowerCase();
      if (method !== 'dialog' && here((by && by.getAttribute('formtarget')) || form.getAttribute('target')))
        seen.leaving = { e, at: performance.now() };
    });
    window.roteInputs = seen;
  }
  return window.roteInputs.n;
})js";

// The visible links whose whole text is `text`, with the view (as values_beside_js).
constexpr const char* links_reading_js = R"js(function (text) {
  const key = (s) => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  const want = key(text);
  const out = { values: [], view: { sx: screenX, sy: screenY, ow: outerWidth, oh: outerHeight,
                                    iw: innerWidth, ih: innerHeight, dpr: devicePixelRatio } };
  for (const a of document.querySelectorAll('a[href], [role=link]')) {
    if (key(a.innerText) !== want) continue;
    if (a.checkVisibility && !a.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const r = a.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0 || r.bottom <= 0 || r.right <= 0 || r.top >= innerHeight || r.left >= innerWidth) continue;
    out.values.push({ href: a.href || '', box: { x: r.left, y: r.top, w: r.width, h: r.height } });
  }
  return out;
})js";

// How far the nearest link reading `text` (as links_reading_js) is from the middle of the view, in CSS
// pixels, when none is in the view; 0 when one is, or none is anywhere.
constexpr const char* link_distance_js = R"js(function (text) {
  const key = (s) => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  const want = key(text);
  let nearest = 0;
  for (const a of document.querySelectorAll('a[href], [role=link]')) {
    if (key(a.innerText) !== want) continue;
    if (a.checkVisibility && !a.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const r = a.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) continue;
    if (r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth) return { distance: 0, dpr: devicePixelRatio };
    const d = (r.top + r.bottom) / 2 - innerHeight / 2;
    if (nearest === 0 || Math.abs(d) < Math.abs(nearest)) nearest = d;
  }
  return { distance: nearest, dpr: devicePixelRatio };
})js";

// Where the page's rendered text (not what is hidden) holds `text`, case and white space aside: the
// innermost elements whose rendered text holds it, and whether any is drawn inside the view.
constexpr const char* text_place_js = R"js(function (text) {
  const key = (s) => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  const want = key(text);
  const out = { place: 'absent', values: [], view: { sx: screenX, sy: screenY, ow: outerWidth, oh: outerHeight,
                                                    iw: innerWidth, ih: innerHeight, dpr: devicePixelRatio } };
  if (!document.body || want === '' || !key(document.body.innerText).includes(want)) return out;
  const holders = [];
  const descend = (el) => {
    const inner = Array.from(el.children).filter((c) => c.innerText !== undefined && key(c.innerText).includes(want));
    if (inner.length === 0) holders.push(el);
    else inner.forEach(descend);
  };
  descend(document.body);
  out.place = 'out_of_view';
  // What the screen shows of the page: the viewport without its scroll bars. A line of text cut by the view's
  // edge (a footer's top pixels above a scroll bar) is not readable there, and counts as out of view; a block
  // of several lines is in view when a whole line of it is.
  const vw = visualViewport ? visualViewport.width : innerWidth, vh = visualViewport ? visualViewport.height : innerHeight;
  for (const el of holders) {
    const style = getComputedStyle(el);
    const line = parseFloat(style.lineHeight) || 1.2 * parseFloat(style.fontSize) || 16;
    for (const r of el.getClientRects()) {
      if (!(r.width > 0 && r.height > 0 && r.right > 0 && r.left < vw)) continue;
      const top = Math.max(0, r.top), bottom = Math.min(vh, r.bottom);
      const whole = r.top >= 0 && r.bottom <= vh;
      if (whole || (r.height > 1.5 * line && bottom - top >= line)) {
        out.place = 'in_view';
        const x = Math.max(0, r.left);
        out.values.push({ box: { x: x, y: top, w: Math.min(vw, r.right) - x, h: bottom - top } });
      }
    }
  }
  return out;
})js";

constexpr const char* visible_js = R"js(function () { return document.visibilityState; })js";

class DevtoolsWitness final : public Witness {
public:
    DevtoolsWitness(int fd, std::chrono::milliseconds timeout)
        : m_fd(fd)
        , m_timeout(timeout)
    {
    }
    ~DevtoolsWitness() override { ::close(m_fd); }

    std::string_view kind() const override { return "devtools"; }

    Result<std::string> url() override
    {
        auto page = ROTE_TRY(visible_page());
        return page.url;
    }

    Result<void> navigate(std::string_view url) override
    {
        auto page = ROTE_TRY(visible_page());
        m_loading[page.session] = true; // until the new document's load event says otherwise
        json answer = ROTE_TRY(call("Page.navigate", {{"url", std::string(url)}}, page.session));
        if (answer.contains("errorText") && answer["errorText"].is_string() && !answer["errorText"].get<std::string>().empty())
            return Error(Error::Code::io, "the browser did not load " + std::string(url) + ": " + answer["errorText"].get<std::string>());
        return {};
    }

    Result<std::vector<LabelledValue>> values_beside(std::string_view label) override
    {
        return labelled_values(label, "");
    }

    Result<std::vector<LabelledValue>> values_at(std::string_view selector) override
    {
        if (selector.empty())
            return std::vector<LabelledValue> {};
        return labelled_values("", selector);
    }

    Result<std::vector<LabelledValue>> labelled_values(std::string_view label, std::string_view selector)
    {
        auto page = ROTE_TRY(visible_page());
        json answer = ROTE_TRY(
            call_function(page, values_beside_js, json::array({std::string(label), std::string(selector)})));
        const std::string about = selector.empty() ? "\"" + std::string(label) + "\"" : "the label at " + std::string(selector);
        const Viewport view = ROTE_TRY(viewport_of(answer, about));
        std::vector<LabelledValue> values;
        for (const json& v : answer["values"]) {
            if (!v.is_object() || !v.contains("text") || !v["text"].is_string() || !v.contains("how")
                || !v["how"].is_string())
                return garbage("a value in its answer about " + about + " is not an object with text and how");
            LabelledValue value;
            value.text = v["text"].get<std::string>();
            value.how = v["how"].get<std::string>();
            value.exact = v.value("exact", true);
            if (v.contains("shown") && v["shown"].is_string())
                value.shown = v["shown"].get<std::string>();
            if (v.contains("where") && v["where"].is_string() && v["where"].get<std::string>().size() <= 1000)
                value.label_at = v["where"].get<std::string>();
            value.box = view.place(v);
            values.push_back(std::move(value));
        }
        return values;
    }

    Result<DocumentElement> element_at(Point screen) override
    {
        auto page = ROTE_TRY(visible_page());
        static const std::string function = question("x, y", element_at_js);
        json answer = ROTE_TRY(call_function(page, function, json::array({screen.x, screen.y})));
        const Viewport view = ROTE_TRY(viewport_of(answer, "the element at a point"));
        DocumentElement element;
        if (answer["values"].empty())
            return element;
        const json& e = answer["values"][0];
        if (!e.is_object() || !e.contains("kind") || !e["kind"].is_string())
            return garbage("the element at a point is not named by a string");
        element.kind = e["kind"].get<std::string>();
        if (element.kind != "link" && element.kind != "button" && element.kind != "field" && element.kind != "text")
            return garbage("the element at a point is named \"" + element.kind.substr(0, 40) + "\"");
        element.identity = ROTE_TRY(identity_of(e, view));
        return element;
    }

    Result<std::vector<FoundElement>> find(const ElementIdentity& recorded) override
    {
        auto page = ROTE_TRY(visible_page());
        static const std::string function = question("rec", find_js);
        json rec = {{"tag", recorded.tag}};
        for (const auto& [key, value] : named_fields(recorded))
            rec[key] = *value;
        json answer = ROTE_TRY(call_function(page, function, json::array({std::move(rec)})));
        const std::string about = describe(recorded);
        const Viewport view = ROTE_TRY(viewport_of(answer, about));
        std::vector<FoundElement> found;
        for (const json& f : answer["values"]) {
            if (!f.is_object() || !f.contains("by") || !f["by"].is_string() || !f.contains("shown") || !f["shown"].is_string())
                return garbage("an element found for " + about + " has no by and shown");
            FoundElement element;
            element.box = view.place(f);
            element.by = f["by"].get<std::string>();
            element.shown = f["shown"].get<std::string>();
            if (f.contains("labelText") && f["labelText"].is_string() && f.contains("labelBox")) {
                element.label = f["labelText"].get<std::string>();
                element.label_box = view.place(json {{"box", f["labelBox"]}});
                if (element.label_box.empty())
                    element.label.clear();
            }
            if (!element.box.empty())
                found.push_back(std::move(element));
        }
        return found;
    }

    // A page's main frame (its frame id is its target id) starting or stopping to load; a page's dialog
    // (alert, confirm, prompt, beforeunload) opening or closing.
    void note_event(const json& event)
    {
        const std::string method = event.value("method", "");
        if (method == "Page.javascriptDialogOpening" || method == "Page.javascriptDialogClosed") {
            m_dialog[event.value("sessionId", "")] = method == "Page.javascriptDialogOpening";
            return;
        }
        if (method != "Page.frameStartedLoading" && method != "Page.frameStoppedLoading"
            && method != "Page.frameRequestedNavigation" && method != "Page.navigatedWithinDocument")
            return;
        const std::string session = event.value("sessionId", "");
        if (!event.contains("params") || !event["params"].is_object())
            return;
        const std::string frame = event["params"].value("frameId", "");
        for (const auto& [target, s] : m_sessions) {
            if (s != session || target != frame)
                continue;
            // A navigation the page asked for (a form sent, a link followed) is told here, in the renderer,
            // before the browser starts loading it and says so: from then on the old document, still
            // "complete", is on its way out. Counted for a while only: one the browser drops says nothing more.
            if (method == "Page.frameRequestedNavigation") {
                if (event["params"].value("disposition", "currentTab") == "currentTab") // not a new tab, a download
                    m_requested[session] = Clock::now();
            } else if (method == "Page.navigatedWithinDocument") {
                m_requested.erase(session); // a fragment or history.pushState: the document stays, nothing loads
            } else {
                m_loading[session] = method == "Page.frameStartedLoading";
                m_requested.erase(session);
            }
        }
    }

    Result<TextPlacement> text_place(std::string_view text) override
    {
        auto page = ROTE_TRY(visible_page());
        json answer = ROTE_TRY(call_function(page, text_place_js, json::array({std::string(text)})));
        const std::string about = "where the page shows \"" + std::string(text) + "\"";
        const Viewport view = ROTE_TRY(viewport_of(answer, about));
        const std::string place = answer.contains("place") && answer["place"].is_string() ? answer["place"].get<std::string>() : "";
        TextPlacement placement;
        if (place == "absent")
            placement.place = TextPlace::absent;
        else if (place == "in_view")
            placement.place = TextPlace::in_view;
        else if (place == "out_of_view")
            placement.place = TextPlace::out_of_view;
        else
            return garbage(about + " is not absent, in_view or out_of_view");
        for (const json& box : answer["values"]) {
            if (!box.is_object())
                return garbage(about + ": a box is not an object");
            if (const Rect r = view.place(box); !r.empty())
                placement.boxes.push_back(r);
        }
        return placement;
    }

    Result<DocumentState> state() override
    {
        auto page = ROTE_TRY(visible_page());
        static const std::string function = question("", state_js);
        json answer = ROTE_TRY(call_function(page, function, json::array()));
        const Viewport view = ROTE_TRY(viewport_of(answer, "the focus"));
        if (!answer.contains("url") || !answer["url"].is_string())
            return garbage("the document's state has no url");
        DocumentState state;
        state.document = page.session + "/" + std::to_string(m_worlds[page.session]);
        state.url = answer["url"].get<std::string>();
        if (!answer["values"].empty())
            state.focus = ROTE_TRY(identity_of(answer["values"][0], view));
        state.focus_is_field = answer.value("field", false);
        const auto requested = m_requested.find(page.session);
        const bool navigating = requested != m_requested.end() && Clock::now() - requested->second < std::chrono::seconds(5);
        state.loaded = answer.value("loaded", false) && !m_loading[page.session] && !navigating;
        const double digest = number(answer, "digest"), length = number(answer, "length");
        const double start = number(answer, "start"), end = number(answer, "end");
        if (!(digest >= 0 && digest <= 4294967295.0 && length >= 0 && length < 1e12 && start >= -1 && end >= -1
                && start < 1e12 && end < 1e12))
            return garbage("the document's state has no digest, length and selection");
        state.value_digest = static_cast<std::uint32_t>(digest);
        state.value_length = static_cast<std::int64_t>(length);
        state.selection_start = static_cast<std::int64_t>(start);
        state.selection_end = static_cast<std::int64_t>(end);
        return state;
    }

    Result<std::vector<Link>> links_reading(std::string_view text) override
    {
        auto page = ROTE_TRY(visible_page());
        json answer = ROTE_TRY(call_function(page, links_reading_js, json::array({std::string(text)})));
        const std::string about = "links reading \"" + std::string(text) + "\"";
        const Viewport view = ROTE_TRY(viewport_of(answer, about));
        std::vector<Link> links;
        for (const json& l : answer["values"]) {
            if (!l.is_object() || !l.contains("href") || !l["href"].is_string())
                return garbage("a link in its answer about " + about + " has no href");
            if (const Rect box = view.place(l); !box.empty())
                links.push_back({box, l["href"].get<std::string>()});
        }
        return links;
    }

    Result<int> link_distance(std::string_view text) override
    {
        auto page = ROTE_TRY(visible_page());
        json answer = ROTE_TRY(call_function(page, link_distance_js, json::array({std::string(text)})));
        const double distance = number(answer, "distance"), dpr = number(answer, "dpr");
        if (!(std::abs(distance) < 1e7 && dpr > 0 && dpr < 10))
            return garbage("the distance to a link reading \"" + std::string(text) + "\" is not a number");
        return static_cast<int>(std::lround(distance * dpr));
    }

    Result<InputCount> inputs_seen() override
    {
        auto page = ROTE_TRY(visible_page());
        json answer = ROTE_TRY(call_function(page, inputs_js, json::array()));
        if (!answer.is_number_unsigned())
            return garbage("the count of input events is not a number");
        return InputCount {page.session + "/" + std::to_string(m_worlds[page.session]), answer.get<std::uint64_t>()};
    }

private:
    // A question's function: its parameters, the element helpers, its body.
    static std::string question(const char* parameters, const char* body)
    {
        return std::string("function (") + parameters + ") {" + element_helpers_js + body + "}";
    }

    struct Page {
        std::string target;
        std::string session;
        std::string url;
    };

    // How the page's viewport lies on the screen (an answer's `view`): CSS boxes of it become screen pixels.
    struct Viewport {
        double left = 0, top = 0, dpr = 1; // its top-left in device-independent pixels, and the scale

        // An entry's `box` ({x, y, w, h} in CSS pixels of the viewport) on the screen; empty when it has none
        // or it makes no sense.
        Rect place(const json& entry) const
        {
            if (!entry.contains("box") || !entry["box"].is_object())
                return {};
            const json& b = entry["box"];
            const double x = (left + number(b, "x")) * dpr, y = (top + number(b, "y")) * dpr;
            const double x2 = (left + number(b, "x") + number(b, "w")) * dpr;
            const double y2 = (top + number(b, "y") + number(b, "h")) * dpr;
            if (!(std::isfinite(x) && std::isfinite(y) && std::isfinite(x2) && std::isfinite(y2) && x2 > x && y2 > y
                    && x2 - x < 1e5 && y2 - y < 1e5 && std::abs(x) < 1e5 && std::abs(y) < 1e5))
                return {};
            return Rect {static_cast<int>(std::floor(x)), static_cast<int>(std::floor(y)),
                static_cast<int>(std::ceil(x2 - std::floor(x))), static_cast<int>(std::ceil(y2 - std::floor(y)))};
        }
    };

    // The viewport of an answer of the form {values: [...], view: {sx, sy, ow, oh, iw, ih, dpr}}.
    static Result<Viewport> viewport_of(const json& answer, const std::string& about)
    {
        if (!answer.is_object() || !answer.contains("values") || !answer["values"].is_array()
            || !answer.contains("view") || !answer["view"].is_object())
            return garbage("its answer about " + about + " has no values and view");
        const json& view = answer["view"];
        const double sx = number(view, "sx"), sy = number(view, "sy"), ow = number(view, "ow"), oh = number(view, "oh");
        const double iw = number(view, "iw"), ih = number(view, "ih"), dpr = number(view, "dpr");
        if (!(dpr > 0 && dpr <= 8))
            return garbage("its answer about " + about + " has a device scale of " + std::to_string(dpr));
        // The window's position, its side borders split evenly, everything above the page (tabs, address bar)
        // on top.
        return Viewport {sx + std::max(0.0, (ow - iw) / 2), sy + std::max(0.0, oh - ih), dpr};
    }

    static double number(const json& object, const char* name)
    {
        auto it = object.find(name);
        return it != object.end() && it->is_number() ? it->get<double>() : std::nan("");
    }

    // An answer's {identity: {tag, id, name, role, label, placeholder, text, box}}, its box on the screen.
    static Result<ElementIdentity> identity_of(const json& entry, const Viewport& view)
    {
        if (!entry.is_object() || !entry.contains("identity") || !entry["identity"].is_object())
            return garbage("an element has no identity");
        const json& i = entry["identity"];
        ElementIdentity e;
        auto fields = named_fields(e);
        std::vector<std::pair<const char*, std::string*>> all {{"tag", &e.tag}};
        all.insert(all.end(), fields.begin(), fields.end());
        for (const auto& [name, field] : all) {
            auto it = i.find(name);
            if (it == i.end() || !it->is_string() || it->get_ref<const std::string&>().size() > 1000)
                return garbage(std::string("an element's identity has no ") + name);
            *field = it->get<std::string>();
        }
        if (e.tag.empty())
            return garbage("an element's identity has an empty tag");
        e.box = view.place(i);
        return e;
    }

    static Error garbage(const std::string& what)
    {
        return Error(Error::Code::corrupt, "the browser's DevTools answer makes no sense: " + what);
    }

    // The page a person would see: among the page targets, the one whose document is visible (the active tab
    // of the window). Attaches to each page once; a target that went away is forgotten.
    Result<Page> visible_page()
    {
        json targets = ROTE_TRY(call("Target.getTargets", json::object(), {}));
        if (!targets.contains("targetInfos") || !targets["targetInfos"].is_array())
            return garbage("Target.getTargets has no targetInfos");
        std::vector<Page> pages;
        for (const json& t : targets["targetInfos"]) {
            if (!t.is_object() || t.value("type", "") != "page" || !t.contains("targetId") || !t["targetId"].is_string())
                continue;
            Page page;
            page.target = t["targetId"].get<std::string>();
            page.url = t.value("url", "");
            pages.push_back(std::move(page));
        }
        if (pages.empty())
            return Error(Error::Code::not_found, "the browser shows no page");
        std::vector<Page> visible;
        for (Page& page : pages) {
            page.session = ROTE_TRY(session_for(page.target));
            if (pages.size() == 1)
                return page;
            json state = ROTE_TRY(call_function(page, visible_js, json::array()));
            if (state == "visible")
                visible.push_back(page);
        }
        if (visible.size() != 1)
            return Error(Error::Code::conflict,
                "the browser has " + std::to_string(pages.size()) + " pages and " + std::to_string(visible.size())
                    + " of them visible: which one is on the screen is not certain");
        return visible.front();
    }

    Result<std::string> session_for(const std::string& target)
    {
        for (const auto& [t, s] : m_sessions) {
            if (t == target)
                return s;
        }
        json attached = ROTE_TRY(call("Target.attachToTarget", {{"targetId", target}, {"flatten", true}}, {}));
        if (!attached.contains("sessionId") || !attached["sessionId"].is_string())
            return garbage("Target.attachToTarget has no sessionId");
        m_sessions.emplace_back(target, attached["sessionId"].get<std::string>());
        // Its load events from now on (frameStartedLoading / frameStoppedLoading): a navigation that has
        // begun but not committed leaves the old document "complete"; these say the page is on its way.
        ROTE_TRY(call("Page.enable", json::object(), m_sessions.back().second));
        return m_sessions.back().second;
    }

    // Calls `function` with `arguments` in an isolated world of the page's main frame and returns its value.
    Result<json> call_function(const Page& page, const std::string& function, json arguments)
    {
        // A page that shows a dialog (alert, confirm, prompt) answers nothing until it is closed: said at once,
        // not after the timeout, so the caller goes on without the document.
        note_queued_events();
        if (m_dialog[page.session])
            return Error(Error::Code::unsupported,
                "the page shows a dialog (alert, confirm or prompt): its document answers nothing until the dialog is closed");
        // The page's isolated world lives as long as its document: asked again until the browser says it is
        // gone (a navigation destroys it), then made anew. One round trip per question instead of three.
        if (auto cached = m_worlds.find(page.session); cached != m_worlds.end()) {
            auto answer = call_in(page, cached->second, function, arguments);
            if (answer.ok() || answer.error().message().find("the browser refused") == std::string::npos)
                return answer;
            m_worlds.erase(cached);
        }
        const std::int64_t context = ROTE_TRY(isolated_world(page));
        m_worlds[page.session] = context;
        return call_in(page, context, function, std::move(arguments));
    }

    // A fresh isolated world in the page's main frame: its execution context.
    Result<std::int64_t> isolated_world(const Page& page)
    {
        json tree = ROTE_TRY(call("Page.getFrameTree", json::object(), page.session));
        if (!tree.contains("frameTree") || !tree["frameTree"].is_object() || !tree["frameTree"].contains("frame")
            || !tree["frameTree"]["frame"].is_object() || !tree["frameTree"]["frame"].contains("id")
            || !tree["frameTree"]["frame"]["id"].is_string())
            return garbage("Page.getFrameTree has no main frame");
        json world = ROTE_TRY(call("Page.createIsolatedWorld",
            {{"frameId", tree["frameTree"]["frame"]["id"]}, {"worldName", "rote"}}, page.session));
        if (!world.contains("executionContextId") || !world["executionContextId"].is_number_integer())
            return garbage("Page.createIsolatedWorld has no executionContextId");
        return world["executionContextId"].get<std::int64_t>();
    }

    // Calls `function` with `arguments` in the execution context `context` of the page; returns its value.
    Result<json> call_in(const Page& page, std::int64_t context, const std::string& function, json arguments)
    {
        json args = json::array();
        for (json& a : arguments)
            args.push_back({{"value", std::move(a)}});
        json result = ROTE_TRY(call("Runtime.callFunctionOn",
            {{"functionDeclaration", function}, {"executionContextId", context}, {"arguments", std::move(args)},
                {"returnByValue", true}, {"awaitPromise", true}},
            page.session));
        if (result.contains("exceptionDetails")) {
            const json& details = result["exceptionDetails"];
            std::string text = details.is_object() ? details.value("text", "an exception") : "an exception";
            if (details.is_object() && details.contains("exception") && details["exception"].is_object())
                text += ": " + details["exception"].value("description", "");
            return Error(Error::Code::corrupt, "the document question failed in the page: " + text);
        }
        if (!result.contains("result") || !result["result"].is_object())
            return garbage("Runtime.callFunctionOn has no result");
        return result["result"].value("value", json());
    }

    // Sends one command and waits for its answer, dropping events and other answers meanwhile.
    Result<json> call(const std::string& method, json params, const std::string& session)
    {
        const int id = ++m_next_id;
        json message = {{"id", id}, {"method", method}, {"params", std::move(params)}};
        if (!session.empty())
            message["sessionId"] = session;
        std::string bytes = message.dump();
        bytes.push_back('\0');
        const auto deadline = Clock::now() + m_timeout;
        ROTE_TRY(send_all(bytes, deadline, method));
        while (true) {
            std::string text = ROTE_TRY(next_message(deadline, method));
            json answer = json::parse(text, nullptr, false);
            if (answer.is_discarded() || !answer.is_object())
                return garbage("a message that is not a JSON object (" + std::to_string(text.size()) + " bytes)");
            auto it = answer.find("id");
            if (it == answer.end()) {
                note_event(answer);
                continue;
            }
            if (!it->is_number_integer() || it->get<int>() != id)
                continue;
            if (answer.contains("error")) {
                const json& e = answer["error"];
                return Error(Error::Code::corrupt,
                    "the browser refused " + method + ": " + (e.is_object() ? e.value("message", e.dump()) : e.dump()));
            }
            if (!answer.contains("result") || !answer["result"].is_object())
                return garbage(method + " answered without a result");
            return answer["result"];
        }
    }

    Result<void> wait_for(short events, Clock::time_point deadline, const std::string& method)
    {
        while (true) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0)
                return Error(Error::Code::timeout,
                    "the browser did not answer " + method + " within " + std::to_string(m_timeout.count()) + " ms");
            pollfd p {m_fd, events, 0};
            const int n = ::poll(&p, 1, static_cast<int>(left));
            if (n > 0)
                return {};
            if (n < 0 && errno != EINTR)
                return Error(Error::Code::io, std::string("poll on the DevTools pipe: ") + std::strerror(errno));
        }
    }

    Result<void> send_all(const std::string& bytes, Clock::time_point deadline, const std::string& method)
    {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            ROTE_TRY(wait_for(POLLOUT, deadline, method));
            const ssize_t n = ::send(m_fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0)
                return Error(Error::Code::io, "the browser's DevTools pipe is closed (" + std::string(std::strerror(errno)) + ")");
            sent += static_cast<std::size_t>(n);
        }
        return {};
    }

    // Notes the events the browser has sent since the last answer (a dialog opened meanwhile), waiting for
    // none.
    void note_queued_events()
    {
        while (true) {
            pollfd p {m_fd, POLLIN, 0};
            if (m_buffer.find('\0') == std::string::npos && ::poll(&p, 1, 0) <= 0)
                return;
            auto text = next_message(Clock::now() + std::chrono::milliseconds(100), "the browser's events");
            if (!text.ok())
                return;
            const json event = json::parse(*text, nullptr, false);
            if (event.is_object() && !event.contains("id"))
                note_event(event);
        }
    }

    Result<std::string> next_message(Clock::time_point deadline, const std::string& method)
    {
        while (true) {
            if (auto end = m_buffer.find('\0'); end != std::string::npos) {
                std::string message = m_buffer.substr(0, end);
                m_buffer.erase(0, end + 1);
                return message;
            }
            if (m_buffer.size() > max_message)
                return garbage("a message longer than " + std::to_string(max_message >> 20) + " MiB");
            ROTE_TRY(wait_for(POLLIN, deadline, method));
            char chunk[65536];
            const ssize_t n = ::recv(m_fd, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n == 0)
                return Error(Error::Code::io, "the browser closed its DevTools pipe (it exited?)");
            if (n < 0)
                return Error(Error::Code::io, std::string("reading the DevTools pipe: ") + std::strerror(errno));
            m_buffer.append(chunk, static_cast<std::size_t>(n));
        }
    }

    int m_fd;
    std::chrono::milliseconds m_timeout;
    int m_next_id = 0;
    std::string m_buffer;
    std::vector<std::pair<std::string, std::string>> m_sessions; // target id, session id
    std::map<std::string, std::int64_t> m_worlds; // session id -> its document's isolated world
    std::map<std::string, bool> m_loading; // session id -> its main frame is loading (Page events)
    std::map<std::string, Clock::time_point> m_requested; // session id -> when its page asked for a navigation
    std::map<std::string, bool> m_dialog; // session id -> its page shows a dialog (Page events)
};

} // namespace

std::unique_ptr<Witness> connect_devtools_witness(int fd, std::chrono::milliseconds timeout)
{
    log().debug("DevTools witness on descriptor {}", fd);
    return std::make_unique<DevtoolsWitness>(fd, timeout);
}

} // namespace rote::runtime
