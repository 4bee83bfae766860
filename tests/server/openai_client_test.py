#!/usr/bin/env python3
"""The official openai client (PyPI `openai`) against mla-server on 127.0.0.1.

Starts the built server on a free port, runs chat completions (streaming and not), text
completions and the model list, checks that the answers parse and that greedy text equals
mla-cli's, then stops the server. Run by CTest (server_openai_client) with the paths as arguments:
    openai_client_test.py BIN_DIR MODEL.gguf
A missing python package is a failure with a clear message, never a skip.
"""
import os
import socket
import subprocess
import sys
import time

try:
    import openai
except ImportError:
    sys.exit("FAIL: the Python package 'openai' is not installed (pip install 'openai>=1.0'); "
             "this test needs the official client")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mla_cli(bin_dir, model, prompt, n):
    out = subprocess.run([os.path.join(bin_dir, "mla-cli"), "-m", model, "-p", prompt, "-n", str(n),
                          "--temp", "0", "-t", "2", "--cache-type", "f32", "--log-disable"],
                         check=True, capture_output=True).stdout.decode("utf-8", "replace")
    assert out.startswith(prompt), out
    return out[len(prompt):]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: openai_client_test.py BIN_DIR MODEL.gguf")
    bin_dir, model = sys.argv[1], sys.argv[2]
    port = free_port()
    server = subprocess.Popen([os.path.join(bin_dir, "mla-server"), "-m", model, "--port", str(port),
                               "--parallel", "2", "-c", "1024", "-t", "2", "--cache-type", "f32",
                               "--api-key", "test-key"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="test-key", max_retries=0)
        for _ in range(200):
            try:
                models = client.models.list()
                break
            except openai.APIConnectionError:
                if server.poll() is not None:
                    sys.exit("FAIL: mla-server exited: " + server.stderr.read().decode())
                time.sleep(0.05)
        else:
            sys.exit("FAIL: mla-server did not answer on port %d" % port)
        model_id = models.data[0].id
        assert model_id == os.path.basename(model), model_id

        prompt = "The license of this software"
        want = mla_cli(bin_dir, model, prompt, 16)
        c = client.completions.create(model=model_id, prompt=prompt, max_tokens=16, temperature=0)
        assert c.choices[0].text == want, (c.choices[0].text, want)
        assert c.usage.completion_tokens == 16

        msgs = [{"role": "user", "content": "Write a haiku about the sea."}]
        chat = client.chat.completions.create(model=model_id, messages=msgs, max_tokens=20, temperature=0)
        text = chat.choices[0].message.content
        assert chat.choices[0].message.role == "assistant"
        assert chat.choices[0].finish_reason in ("stop", "length")
        assert isinstance(text, str) and text
        streamed = ""
        finish = None
        for chunk in client.chat.completions.create(model=model_id, messages=msgs, max_tokens=20,
                                                    temperature=0, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                streamed += chunk.choices[0].delta.content
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        assert streamed == text, (streamed, text)
        assert finish == chat.choices[0].finish_reason

        # The chat prompt through mla-cli's path: render with /tokenize-equivalent text is not
        # exposed, so compare a streamed completion with the whole one and with mla-cli instead.
        streamed = "".join(ch.choices[0].text for ch in client.completions.create(
            model=model_id, prompt=prompt, max_tokens=16, temperature=0, stream=True) if ch.choices)
        assert streamed == want, (streamed, want)

        try:
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong",
                          max_retries=0).models.list()
            sys.exit("FAIL: a wrong API key was accepted")
        except openai.AuthenticationError:
            pass
        try:
            client.completions.create(model="no-such-model", prompt="x", max_tokens=2)
            sys.exit("FAIL: an unknown model was accepted")
        except openai.NotFoundError:
            pass
        print("openai client test passed (openai %s)" % openai.__version__)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
