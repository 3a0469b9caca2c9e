#pragma once

// teach.html: the page of a live view with a bar (ViewBar). noVNC's own RFB client (core/rfb.js, served beside
// it from the Debian package) draws the desktop and sends the person's mouse and keys; the bar above it says
// what rote records and which values to type, and its Done and Cancel go to rote on the control WebSocket.
// Both tokens come in the URL's fragment. Everything rote sends is shown as text, never as markup.

namespace rote::runtime::detail {

constexpr const char* kTeachPage = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rote: show the task</title>
<style>
  html, body { margin: 0; height: 100%; background: #1e1e1e; font: 14px system-ui, sans-serif; color: #eee; }
  body { display: flex; flex-direction: column; }
  #bar { display: flex; align-items: center; gap: 16px; padding: 8px 12px; background: #2d3440; border-bottom: 1px solid #111; }
  #what { flex: 1; min-width: 0; }
  #task { font-weight: 600; }
  #inputs { margin-top: 4px; color: #c8d0dc; }
  #inputs span { margin-right: 14px; }
  #inputs b { color: #fff; font-weight: 600; }
  #state { color: #f0c060; white-space: nowrap; }
  button { font: inherit; padding: 6px 16px; border-radius: 4px; border: 1px solid #111; cursor: pointer; }
  button:disabled { opacity: 0.4; cursor: default; }
  #done { background: #3c8d40; color: #fff; }
  #cancel { background: #555; color: #fff; }
  #screen { flex: 1; min-height: 0; overflow: hidden; }
</style>
</head>
<body>
<div id="bar">
  <div id="what"><div>Recording: <span id="task">connecting to rote...</span></div><div id="inputs"></div></div>
  <span id="state">connecting</span>
  <button id="done" disabled>Done</button>
  <button id="cancel" disabled>Cancel</button>
</div>
<div id="screen"></div>
<script type="module">
import RFB from './core/rfb.js';

const tokens = new URLSearchParams(location.hash.slice(1));
const socketUrl = (token) => (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host
    + '/websockify?token=' + encodeURIComponent(token || '');
const $ = (id) => document.getElementById(id);
const say = (text) => { $('state').textContent = text; };
let ended = false;

// The bar's channel: rote sends one JSON line {task, inputs: [{name, value, secret}]}; the page sends
// "done\n" or "cancel\n".
const control = new WebSocket(socketUrl(tokens.get('control')));
control.binaryType = 'arraybuffer';
let received = '';
control.onmessage = (event) => {
    received += new TextDecoder().decode(event.data);
    for (let nl; (nl = received.indexOf('\n')) >= 0; received = received.slice(nl + 1)) {
        const bar = JSON.parse(received.slice(0, nl));
        $('task').textContent = bar.task;
        $('inputs').replaceChildren(...bar.inputs.map((input) => {
            const item = document.createElement('span');
            const value = document.createElement('b');
            item.append(input.name + ': ');
            value.textContent = input.secret ? 'a secret: type it yourself' : input.value;
            item.append(value);
            return item;
        }));
        $('done').disabled = $('cancel').disabled = false;
    }
};
control.onclose = () => {
    $('done').disabled = $('cancel').disabled = true;
    if (!ended)
        say('rote refused or closed this view');
};
const end = (verb, text) => {
    ended = true;
    control.send(new TextEncoder().encode(verb + '\n'));
    $('done').disabled = $('cancel').disabled = true;
    say(text);
};
$('done').onclick = () => end('done', 'done: rote checks the task and saves it');
$('cancel').onclick = () => end('cancel', 'cancelled: nothing is kept');

const rfb = new RFB($('screen'), socketUrl(tokens.get('view')));
rfb.scaleViewport = true;
rfb.addEventListener('connect', () => { if (!ended) say('recording'); });
rfb.addEventListener('disconnect', () => { if (!ended) say('the desktop is not connected'); });
</script>
</body>
</html>
)html";

} // namespace rote::runtime::detail
