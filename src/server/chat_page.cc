// The chat page at / : one static HTML file, no external assets. It streams answers from
// /v1/chat/completions and shows reasoning_content apart from the answer.
#include "server/http.h"

namespace mla::server {

const char kChatPage[] = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mla.cpp chat</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:50rem;margin:0 auto;padding:1rem;background:#fafafa}
#log{display:flex;flex-direction:column;gap:.6rem;margin-bottom:1rem}
.msg{white-space:pre-wrap;padding:.6rem .8rem;border-radius:.5rem}
.user{background:#dbeafe;align-self:flex-end}
.assistant{background:#fff;border:1px solid #ddd}
.think{color:#666;font-style:italic;font-size:.9em;border-left:3px solid #ccc;padding-left:.5rem;margin-bottom:.3rem}
form{display:flex;gap:.5rem} textarea{flex:1;min-height:3rem} #status{color:#888;font-size:.8em}
</style></head><body>
<h3>mla.cpp</h3>
<div id="log"></div>
<form id="form"><textarea id="input" placeholder="Message"></textarea><button id="send" type="submit">Send</button></form>
<div id="status"></div>
<script>
const history = [];
const params = new URLSearchParams(location.search);
const maxTokens = params.get('max_tokens') ? parseInt(params.get('max_tokens')) : 0;  // ?max_tokens=N
const streaming = params.get('stream') !== '0';  // ?stream=0: whole answers (headless browsers)
const log = document.getElementById('log');
function add(cls) { const d = document.createElement('div'); d.className = 'msg ' + cls; log.appendChild(d); return d; }
document.getElementById('input').addEventListener('keydown', e => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); document.getElementById('form').requestSubmit(); }
});
document.getElementById('form').addEventListener('submit', async e => {
  e.preventDefault();
  const input = document.getElementById('input');
  const text = input.value.trim(); if (!text) return;
  input.value = '';
  add('user').textContent = text;
  history.push({role: 'user', content: text});
  const box = add('assistant');
  const think = document.createElement('div'); think.className = 'think'; think.style.display = 'none';
  const answer = document.createElement('div'); answer.className = 'answer';
  box.appendChild(think); box.appendChild(answer);
  document.getElementById('send').disabled = true;
  const status = document.getElementById('status'); status.textContent = 'generating…';
  try {
    const res = await fetch('/v1/chat/completions', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(Object.assign({messages: history, stream: streaming}, maxTokens ? {max_tokens: maxTokens} : {}))});
    if (!res.ok) { const j = await res.json(); throw new Error(j.error ? j.error.message : res.statusText); }
    if (!streaming) {
      const j = await res.json(); const m = j.choices[0].message;
      if (m.reasoning_content) { think.style.display = ''; think.textContent = m.reasoning_content; }
      answer.textContent = m.content || '';
    } else {
    const reader = res.body.getReader(); const dec = new TextDecoder(); let buf = '';
    for (;;) {
      const {value, done} = await reader.read(); if (done) break;
      buf += dec.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 2);
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6); if (data === '[DONE]') continue;
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message);
        const d = j.choices[0].delta || {};
        if (d.reasoning_content) { think.style.display = ''; think.textContent += d.reasoning_content; }
        if (d.content) answer.textContent += d.content;
        if (j.timings) status.textContent = j.timings.predicted_n + ' tokens, ' +
          (j.timings.predicted_n * 1000 / Math.max(1, j.timings.predicted_ms)).toFixed(1) + ' tokens/s';
      }
    }
    }
    history.push({role: 'assistant', content: answer.textContent});
    box.dataset.done = '1';
  } catch (err) { answer.textContent += '\n[error: ' + err.message + ']'; box.dataset.done = 'error'; status.textContent = ''; }
  document.getElementById('send').disabled = false;
});
// ?q=TEXT sends TEXT on load (links that open a conversation; the browser test uses it).
const q = params.get('q');
if (q) { document.getElementById('input').value = q; document.getElementById('form').requestSubmit(); }
</script></body></html>
)HTML";

}  // namespace mla::server
