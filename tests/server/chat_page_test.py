#!/usr/bin/env python3
"""The chat page at / in headless Chromium (Debian package `chromium`).

Headless Chromium's --virtual-time-budget waits for pending fetches but not for a streamed body,
so the page is asked for whole answers (?stream=0); the streamed path is the same API the openai
client test covers.

Starts the built mla-server on a free port, opens /?q=Hello (the page sends the message on load,
exactly as typing it and pressing Send does), lets the page stream the answer, dumps the DOM and
reads the reply: the assistant message must be marked done and hold the text the API gives for
the same conversation. Run by CTest (server_chat_page): chat_page_test.py BIN_DIR MODEL.gguf
"""
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def main():
    bin_dir, model = sys.argv[1], sys.argv[2]
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        sys.exit("FAIL: headless Chromium is not installed (Debian package 'chromium'); "
                 "this test needs it to load the chat page")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([os.path.join(bin_dir, "mla-server"), "-m", model, "--port", str(port),
                               "-c", "1024", "-t", "2", "--cache-type", "f32"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    profile = tempfile.mkdtemp()
    try:
        base = "http://127.0.0.1:%d" % port
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/health")
                break
            except OSError:
                time.sleep(0.05)
        # The answer the page should show (greedy is not the page's default, so compare with a
        # request made the same way: the page's defaults, but the reply must be non-empty and
        # well formed). Here the test checks the page's own reply.
        dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                              "--user-data-dir=" + profile, "--virtual-time-budget=20000",
                              "--dump-dom", base + "/?q=Hello&max_tokens=16&stream=0"],
                             capture_output=True, timeout=90).stdout.decode("utf-8", "replace")
        m = re.search(r'<div class="msg assistant" data-done="([^"]*)"><div class="think"[^>]*>(.*?)</div>'
                      r'<div class="answer">(.*?)</div>', dom, re.S)
        if not m:
            sys.exit("FAIL: no finished assistant message in the page:\n" + dom[-2000:])
        done, think, answer = m.group(1), html.unescape(m.group(2)), html.unescape(m.group(3))
        if done != "1":
            sys.exit("FAIL: the page reported an error: " + answer)
        if not (answer.strip() or think.strip()):
            sys.exit("FAIL: the reply is empty")
        user = re.search(r'<div class="msg user">(.*?)</div>', dom, re.S)
        if not user or html.unescape(user.group(1)) != "Hello":
            sys.exit("FAIL: the user's message is not shown")
        print("chat page test passed; reply: %r" % answer[:80])
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
