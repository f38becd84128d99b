"""OpenAIPolicy against a fake OpenAI-compatible server on 127.0.0.1 (http.server in a thread)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents import build_policy
from agents.base import PolicyConfig, SamplingConfig
from agents.chat import ChatConfig
from agents.openai_backend import OpenAIError, OpenAIPolicy, _looks_chat_only, parse_choice
from astro_env.problem import Problem
from astro_env.state import initial_state, transition


class FakeServer:
    """Records request bodies; answers with `failures` (HTTP codes) first, then with `respond(body)`."""

    def __init__(self, respond, failures=()):
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.headers: list[dict] = []
        self.failures = list(failures)
        self.failure_message = ""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.paths.append(self.path)
                fake.headers.append(dict(self.headers))
                if fake.failures:
                    code = fake.failures.pop(0)
                    payload, status = {"error": {"message": fake.failure_message or f"fake failure {code}"}}, code
                else:
                    payload, status = respond(body), 200
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def echo_choices(body: dict, text_suffix: str = "", reversed_order: bool = False) -> dict:
    """One choice per (prompt i, sample j) with text "p{i}s{j}", 2 tokens, logprobs -0.5 and -1.5."""
    n = body["n"]
    choices = []
    for i, _ in enumerate(body["prompt"]):
        for j in range(n):
            choices.append(
                {
                    "index": i * n + j,
                    "text": f"p{i}s{j}{text_suffix}",
                    "finish_reason": "length" if j == 0 else "stop",
                    "stop_reason": body["stop"][0] if j == 1 and body.get("stop") else None,
                    "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-0.5, -1.5]},
                }
            )
    if reversed_order:
        choices.reverse()
    return {"id": "cmpl-1", "object": "text_completion", "choices": choices}


def make_policy(base_url: str, **extra) -> OpenAIPolicy:
    extra.setdefault("backoff_s", 0.01)
    return OpenAIPolicy(PolicyConfig(backend="openai", model="teacher", base_url=base_url, seed=7, extra=extra))


def test_request_json_and_aligned_outputs():
    with FakeServer(echo_choices) as server:
        policy = make_policy(server.base_url, api_key="sk-test", top_k=20)
        sampling = SamplingConfig(max_tokens=33, temperature=0.6, top_p=0.9, stop=("\n\n",), seed=5)
        out = policy.complete(["first", "second"], 3, sampling)
    body = server.requests[0]
    assert server.paths == ["/v1/completions"]
    assert body == {
        "model": "teacher",
        "prompt": ["first", "second"],
        "n": 3,
        "max_tokens": 33,
        "temperature": 0.6,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 5,
        "logprobs": 1,
        "top_k": 20,
    }
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    assert [[c.text for c in row] for row in out] == [["p0s0", "p0s1", "p0s2"], ["p1s0", "p1s1", "p1s2"]]
    first, second, third = out[0]
    assert first.finish_reason == "length" and first.truncated
    assert second.finish_reason == "stop" and second.stop_reason == "\n\n"
    assert third.finish_reason == "eos" and third.stop_reason is None  # "stop" without a stop string: end of text
    assert first.token_logprobs == (-0.5, -1.5) and first.logprob == -2.0 and first.n_tokens == 2


def test_choices_are_grouped_by_index_not_order():
    with FakeServer(lambda body: echo_choices(body, reversed_order=True)) as server:
        out = make_policy(server.base_url).complete(["a", "b"], 2, SamplingConfig(seed=1))
    assert [[c.text for c in row] for row in out] == [["p0s0", "p0s1"], ["p1s0", "p1s1"]]


def test_large_batches_are_split_into_requests():
    with FakeServer(echo_choices) as server:
        policy = make_policy(server.base_url, max_prompts_per_request=2)
        out = policy.complete(["a", "b", "c"], 1, SamplingConfig(seed=1))
    assert [body["prompt"] for body in server.requests] == [["a", "b"], ["c"]]
    assert [row[0].text for row in out] == ["p0s0", "p1s0", "p0s0"]


def test_unseeded_calls_send_distinct_reproducible_seeds():
    with FakeServer(echo_choices) as server:
        policy = make_policy(server.base_url)
        policy.complete(["a"], 1, SamplingConfig())
        policy.complete(["a"], 1, SamplingConfig())
        make_policy(server.base_url).complete(["a"], 1, SamplingConfig())
    seeds = [body["seed"] for body in server.requests]
    assert seeds[0] != seeds[1] and seeds[0] == seeds[2]


def test_retries_5xx_then_succeeds():
    with FakeServer(echo_choices, failures=[503, 500]) as server:
        out = make_policy(server.base_url).complete(["a"], 1, SamplingConfig(seed=0))
    assert len(server.requests) == 3 and out[0][0].text == "p0s0"


def test_client_error_raises_at_once_with_server_message():
    with FakeServer(echo_choices, failures=[400]) as server:
        with pytest.raises(OpenAIError, match="HTTP 400.*fake failure 400"):
            make_policy(server.base_url).complete(["a"], 1, SamplingConfig(seed=0))
    assert len(server.requests) == 1


def test_gives_up_after_retries_on_connection_errors():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once we leave the block: nothing listens there
    policy = make_policy(f"http://127.0.0.1:{port}/v1", max_retries=2, timeout_s=2)
    with pytest.raises(OpenAIError, match="after 3 attempts.*base_url"):
        policy.complete(["a"], 1, SamplingConfig(seed=0))


def test_wrong_number_of_choices_is_a_clear_error():
    with FakeServer(lambda body: {"choices": []}) as server:
        with pytest.raises(OpenAIError, match="0 choices for 1 prompts x n=2"):
            make_policy(server.base_url).complete(["a"], 2, SamplingConfig(seed=0))


def test_propose_steps_continue_state_text_and_stop_at_delimiter():
    problem = Problem(id="p", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown")
    root = initial_state(problem, problem.problem + "\n\n")
    states = [root, transition(root, "5*7=35")]
    # a server that leaves the stop string and more text in: the client still cuts there
    with FakeServer(lambda body: echo_choices(body, text_suffix="\n\nextra")) as server:
        steps = make_policy(server.base_url).propose_steps(states, 2)
    body = server.requests[0]
    assert body["prompt"] == [root.text, states[1].text]
    assert body["stop"] == ["\n\n"] and body["max_tokens"] == PolicyConfig().step_max_tokens
    assert body["temperature"] == 1.0
    assert [[s.text for s in row] for row in steps] == [["p0s0", "p0s1"], ["p1s0", "p1s1"]]
    assert all(s.finished and s.n_tokens == 2 and s.logprob == -2.0 for row in steps for s in row)


def test_parse_choice_tolerates_missing_logprobs_and_echoed_none():
    c = parse_choice({"text": "x", "finish_reason": "length", "logprobs": {"token_logprobs": [None, -1.0]}}, ())
    assert c.token_logprobs == (0.0, -1.0) and c.finish_reason == "length"
    c = parse_choice({"text": "y", "finish_reason": "stop", "token_ids": [5, 6]}, ())
    assert c.token_ids == (5, 6) and c.token_logprobs == () and c.finish_reason == "eos"


def test_build_policy_makes_openai_backend_and_requires_model():
    policy = build_policy(PolicyConfig(backend="openai", model="m", base_url="http://127.0.0.1:1/v1/"))
    assert isinstance(policy, OpenAIPolicy) and policy.base_url == "http://127.0.0.1:1/v1"
    with pytest.raises(ValueError, match="model="):
        build_policy(PolicyConfig(backend="openai"))


def chat_choices(body: dict) -> dict:
    """A /chat/completions answer: n choices "c{j}:<last 3 chars of the last message>", 2 tokens each."""
    if "messages" not in body:
        raise AssertionError(f"a text completions body reached the chat handler: {body}")
    tail = body["messages"][-1]["content"][-3:]
    return {"choices": [
        {"index": j, "message": {"role": "assistant", "content": f"c{j}:{tail}" + ("\n\nmore" if j == 1 else "")},
         "finish_reason": "stop", "logprobs": {"content": [{"token": "a", "logprob": -0.25}, {"token": "b", "logprob": -0.75}]}}
        for j in range(body["n"])
    ]}


@pytest.mark.parametrize("code", [404, 405])
def test_a_server_without_completions_is_asked_for_chat_completions(code):
    with FakeServer(chat_choices, failures=[code]) as server:
        policy = make_policy(server.base_url)
        out = policy.complete(["Problem: 1+1\n\nSolution:\n", "b"], 2, SamplingConfig(seed=3))
        again = policy.complete(["a"], 1, SamplingConfig(seed=0))
    assert server.paths == ["/v1/completions", "/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions"]
    first, second = sorted(server.requests[1:3], key=lambda body: body["seed"])  # sent in parallel
    assert first["messages"] == [{"role": "user", "content": "Problem: 1+1\n\nSolution:\n"}]
    assert first["n"] == 2 and first["seed"] == 3 and second["seed"] == 4 and first["logprobs"] is True
    assert "continue_final_message" not in first and "chat_template" not in first
    assert [[c.text for c in row] for row in out] == [["c0:n:\n", "c1:n:\n\n\nmore"], ["c0:b", "c1:b\n\nmore"]]
    assert out[0][0].token_logprobs == (-0.25, -0.75) and out[0][0].finish_reason == "eos"
    assert again[0][0].text == "c0:a"


def test_chat_shaped_choices_switch_to_chat_completions():
    def respond(body):
        if "prompt" in body:
            return {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}
        return chat_choices(body)

    with FakeServer(respond) as server:
        out = make_policy(server.base_url).complete(["abc"], 1, SamplingConfig(seed=0))
    assert server.paths == ["/v1/completions", "/v1/chat/completions"] and out[0][0].text == "c0:abc"


def _states():
    problem = Problem(id="p", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown")
    root = initial_state(problem, problem.problem + "\n\n")
    return root, transition(root, "5*7=35")


def test_chat_template_continues_the_assistant_turn_with_the_steps_so_far(tmp_path):
    template = tmp_path / "chat.jinja"
    template.write_text("{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}[assistant]", encoding="utf-8")
    chat = ChatConfig(template=str(template), system_prompt="Think in steps.")
    root, child = _states()
    with FakeServer(chat_choices) as server:
        policy = OpenAIPolicy(PolicyConfig(backend="openai", model="m", base_url=server.base_url, chat=chat))
        steps = policy.propose_steps([root, child], 2, SamplingConfig(max_tokens=7, stop=("\n\n",), seed=5))
        rolled = policy.complete_states([child], 1, SamplingConfig(max_tokens=9, seed=1))
    assert server.paths == ["/v1/chat/completions"] * 3  # a template goes straight to chat completions
    system = {"role": "system", "content": "Think in steps."}
    user = {"role": "user", "content": root.prompt}
    first, second = sorted(server.requests[:2], key=lambda body: len(body["messages"]))  # sent in parallel
    third = server.requests[2]
    assert first["messages"] == [system, user] and "continue_final_message" not in first
    assert second["messages"] == [system, user, {"role": "assistant", "content": "5*7=35\n\n"}]
    assert second["continue_final_message"] is True and second["add_generation_prompt"] is False
    assert first["chat_template"] == template.read_text(encoding="utf-8") and second["stop"] == ["\n\n"]
    assert [[s.text for s in row] for row in steps] == [["c0:6", "c1:6"], ["c0:5", "c1:5"]]
    assert third["max_tokens"] == 9 and rolled[0][0].text == "c0:5\n\n"


def test_a_server_that_cannot_continue_a_turn_is_one_line_naming_the_option():
    _, child = _states()
    with FakeServer(chat_choices, failures=[400]) as server:
        server.failure_message = "Unrecognized request argument supplied: continue_final_message"
        policy = OpenAIPolicy(PolicyConfig(backend="openai", model="m", base_url=server.base_url, chat=ChatConfig(template="auto")))
        with pytest.raises(OpenAIError, match="refused continue_final_message.*vllm serve.*--chat-template none") as info:
            policy.complete_states([child], 1, SamplingConfig(seed=0))
    assert "\n" not in str(info.value) and server.requests[0]["continue_final_message"] is True


def test_chat_only_detection_rules():
    # OpenAI's answer for a chat model on /v1/completions is a 404; some servers send a 400 naming chat
    assert _looks_chat_only(404, "") and _looks_chat_only(405, "")
    assert _looks_chat_only(400, "This is a chat model and not supported in the v1/completions endpoint")
    assert not _looks_chat_only(400, "max_tokens must be positive") and not _looks_chat_only(401, "chat")


def test_raw_prompts_carry_the_system_prompt_on_the_text_route():
    with FakeServer(echo_choices) as server:
        policy = OpenAIPolicy(PolicyConfig(backend="openai", model="m", base_url=server.base_url, chat=ChatConfig(system_prompt="Be brief.")))
        policy.complete(["Problem: 1+1\n\nSolution:\n"], 1, SamplingConfig(seed=0))
    assert server.paths == ["/v1/completions"] and server.requests[0]["prompt"] == ["Be brief.\n\nProblem: 1+1\n\nSolution:\n"]
