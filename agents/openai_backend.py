"""`OpenAIPolicy`: the PolicyAgent over an OpenAI-compatible server.

What `vllm serve` and SGLang expose; for teachers too large for the training machine.
Plain `urllib` (no client dependency). Two routes:

- text completions (`/v1/completions`), with raw prompts (`PolicyConfig.chat.template` "none"):
  one HTTP request per batch of prompts (`prompt` is a list, `n` samples each);
- chat completions (`/v1/chat/completions`), when a chat template is asked for (the server
  renders with the model's own template, or with the file's, sent as vLLM's `chat_template`)
  or when the server has no text completions endpoint (found on the first call): one request
  per prompt, the task prompt as the user message after the system prompt. A partial solution
  (search's steps so far) is sent as the assistant message to continue, with vLLM's
  `continue_final_message` and `add_generation_prompt=False`; a server that refuses those is
  one clear error.

Retries with exponential backoff on connection errors, timeouts, 429 and 5xx; other HTTP errors
raise at once with the server's message.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from agents._text import check_batch, propose_via_complete, truncate_at_stop
from agents.base import Completion, PolicyConfig, SamplingConfig, StepSample
from agents.chat import partial_response
from astro_env.errors import UserError
from astro_env.state import ReasoningState


class OpenAIError(UserError, RuntimeError):
    """The server refused or failed a request (after retries, for transient failures).

    A `UserError` (so a ValueError: command lines print it as one line) and a RuntimeError.
    """


class ChatOnlyServer(OpenAIError):
    """The server has no text completions endpoint (the policy then uses chat completions)."""


_CHAT_ONLY = (
    "serves chat completions only, but ASTRO needs the text completions endpoint "
    "(/v1/completions: prompts continue raw text, with log-probabilities); serve the model "
    "with `vllm serve` or SGLang, or point PolicyConfig.base_url at a server that has /v1/completions."
)


def _looks_chat_only(code: int, detail: str) -> bool:
    """Whether an HTTP error says the endpoint has no /v1/completions (404/405, or a "chat model" 400)."""
    return code in (404, 405) or (code == 400 and "chat" in detail.lower())


def _finish(reason: str | None, stop_reason, found: str | None) -> tuple[str, str | None]:
    """(finish_reason, stop_reason) of a choice: a stop string found in the text or named by the
    server is "stop"; "stop" without one is "eos"; "length" is "length"."""
    stop_reason = stop_reason if isinstance(stop_reason, str) else None
    if found is not None:
        return "stop", found
    if reason == "stop":
        return ("stop", stop_reason) if stop_reason else ("eos", None)
    return ("length" if (reason or "length") == "length" else "eos"), None


def parse_chat_choice(choice: dict, stops: Sequence[str]) -> Completion:
    """The Completion for one `choices[i]` item of a /v1/chat/completions response.

    Text is `message.content` (cut at the first stop string); token log-probs come from
    `logprobs.content[j].logprob`; finish reasons map as in `parse_choice`.
    """
    message = choice.get("message") or {}
    text, found = truncate_at_stop(message.get("content") or "", stops)
    finish, stop_reason = _finish(choice.get("finish_reason") or "length", choice.get("stop_reason"), found)
    content = (choice.get("logprobs") or {}).get("content") or ()
    token_logprobs = tuple(float(item.get("logprob") or 0.0) for item in content if isinstance(item, dict))
    return Completion(
        text=text,
        token_ids=tuple(int(t) for t in (choice.get("token_ids") or ())),
        token_logprobs=token_logprobs,
        finish_reason=finish,  # type: ignore[arg-type]
        stop_reason=stop_reason,
    )


def parse_choice(choice: dict, stops: Sequence[str]) -> Completion:
    """The Completion for one `choices[i]` item of a /v1/completions response.

    finish_reason "stop" with a stop string → ("stop", that string); "stop" without one →
    "eos"; "length" → "length". Token log-probs come from `logprobs.token_logprobs` (the first
    entry may be None when the server echoes the prompt; None is read as 0). Token ids come
    from vLLM's `token_ids` extension when present, else are left empty. Some servers keep the
    stop string in the text: it is cut here too.
    """
    text, found = truncate_at_stop(choice.get("text") or "", stops)
    finish, stop_reason = _finish(choice.get("finish_reason") or "length", choice.get("stop_reason"), found)
    logprobs = choice.get("logprobs") or {}
    token_logprobs = tuple(float(x) if x is not None else 0.0 for x in (logprobs.get("token_logprobs") or ()))
    token_ids = choice.get("token_ids") or ()
    return Completion(
        text=text,
        token_ids=tuple(int(t) for t in token_ids),
        token_logprobs=token_logprobs,
        finish_reason=finish,  # type: ignore[arg-type]
        stop_reason=stop_reason,
    )


class OpenAIPolicy:
    """PolicyAgent over an OpenAI-compatible completions or chat server.

    `config.model` is the served model name, `config.base_url` the API root (".../v1"),
    `config.chat` the template and system prompt (see the module docstring for the routes).
    `config.extra` may set `api_key` (sent as a Bearer token), `timeout_s` (default 600),
    `max_retries` (default 5), `backoff_s` (first retry delay, doubled each time; default 1.0),
    `max_prompts_per_request` (default: config.max_batch_size) and `max_parallel_requests`
    (chat completions sent at once; default 8).
    Unseeded calls send `config.seed` plus a call counter as the seed, so a run is replayable
    where the server honours seeds.
    """

    def __init__(self, config: PolicyConfig):
        if not config.model:
            raise ValueError("OpenAIPolicy needs PolicyConfig(model=...): the model name the server serves.")
        self.config = config
        self.name = f"openai:{config.model}"
        self.base_url = config.base_url.rstrip("/")
        extra = dict(config.extra)
        self.api_key: str | None = extra.pop("api_key", None)
        self.timeout_s = float(extra.pop("timeout_s", 600.0))
        self.max_retries = int(extra.pop("max_retries", 5))
        self.backoff_s = float(extra.pop("backoff_s", 1.0))
        self.max_prompts_per_request = int(extra.pop("max_prompts_per_request", config.max_batch_size))
        self.max_parallel_requests = max(1, int(extra.pop("max_parallel_requests", 8)))
        self.extra_body = extra
        """Any other `extra` keys are sent in the request body as-is (e.g. vLLM's top_k)."""
        self.chat_template = config.chat.template_source
        """A template file's Jinja source, sent with every chat request (vLLM's `chat_template`)."""
        self.system = config.chat.system_text
        self.use_chat = config.chat.template != "none"
        """True when requests go to /chat/completions: a template was asked for, or the server has no
        text completions endpoint (set on the first call that finds out)."""
        self.n_unseeded_calls = 0

    def propose_steps(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[StepSample]]:
        """`n` candidate next steps per state: the prompt and steps so far (`state.text` as raw text)
        continued with stop=[delimiter]."""
        return propose_via_complete(self._complete_turns, states, n, sampling, self.config.step_max_tokens, _turns)

    def complete(
        self,
        prompts: Sequence[str],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[Completion]]:
        """`n` completions per prompt (outer list aligned with `prompts`)."""
        check_batch(prompts, n)
        return self._complete_turns([(p, "") for p in prompts], n, sampling)

    def complete_states(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[Completion]]:
        """`n` completions continuing each state's steps so far (outer list aligned with `states`)."""
        check_batch(list(states), n)
        return self._complete_turns(_turns(states), n, sampling)

    def _complete_turns(self, turns: list[tuple[str, str]], n: int, sampling: SamplingConfig | None) -> list[list[Completion]]:
        """`n` completions per (task prompt, partial response) pair, by whichever route the server takes."""
        sampling = sampling if sampling is not None else SamplingConfig()
        seed = sampling.seed
        if seed is None:
            seed = self.config.seed * 1_000_003 + self.n_unseeded_calls
            self.n_unseeded_calls += 1
        if not turns:
            return []
        if not self.use_chat:
            try:
                return self._complete_text([self._raw_text(p, r) for p, r in turns], n, sampling, seed)
            except ChatOnlyServer:
                self.use_chat = True
        return self._complete_chat(turns, n, sampling, seed)

    def _raw_text(self, prompt: str, response: str) -> str:
        return (f"{self.system}\n\n" if self.system else "") + prompt + response

    # ------------------------------------------------------------ text route

    def _complete_text(self, prompts: list[str], n: int, sampling: SamplingConfig, seed: int) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        size = max(1, self.max_prompts_per_request)
        for start in range(0, len(prompts), size):
            out.extend(self._request(prompts[start : start + size], n, sampling, seed + start))
        return out

    def request_body(self, prompts: list[str], n: int, sampling: SamplingConfig, seed: int) -> dict:
        """The JSON body of one /completions request."""
        body = {
            "model": self.config.model,
            "prompt": prompts,
            "n": n,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": seed,
            "logprobs": 1,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        body.update(self.extra_body)
        return body

    def _request(self, prompts: list[str], n: int, sampling: SamplingConfig, seed: int) -> list[list[Completion]]:
        body = self.request_body(prompts, n, sampling, seed)
        data = self._post("/completions", body)
        choices = data.get("choices")
        if isinstance(choices, list) and any(isinstance(c, dict) and "text" not in c and "message" in c for c in choices):
            raise ChatOnlyServer(f"{self.base_url} answered /completions with chat messages: it {_CHAT_ONLY}")
        if not isinstance(choices, list) or len(choices) != len(prompts) * n:
            raise OpenAIError(
                f"{self.base_url}/completions returned {len(choices) if isinstance(choices, list) else 'no'} choices "
                f"for {len(prompts)} prompts x n={n}; is this an OpenAI-compatible completions server?"
            )
        grouped: list[list[Completion | None]] = [[None] * n for _ in prompts]
        for pos, choice in enumerate(choices):
            index = choice.get("index")
            if not isinstance(index, int) or not 0 <= index < len(choices) or grouped[index // n][index % n] is not None:
                index = pos  # missing or malformed index: trust the response order
            grouped[index // n][index % n] = parse_choice(choice, sampling.stop)
        return grouped  # type: ignore[return-value]

    # ------------------------------------------------------------ chat route

    def chat_body(self, prompt: str, response: str, n: int, sampling: SamplingConfig, seed: int) -> dict:
        """The JSON body of one /chat/completions request: the system and user messages, and the
        partial assistant message to continue when `response` is not empty."""
        messages = ([{"role": "system", "content": self.system}] if self.system else []) + [{"role": "user", "content": prompt}]
        body: dict = {
            "model": self.config.model,
            "messages": messages,
            "n": n,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": seed,
            "logprobs": True,
        }
        if response:
            messages.append({"role": "assistant", "content": response})
            body.update(continue_final_message=True, add_generation_prompt=False)
        if self.chat_template is not None:
            body["chat_template"] = self.chat_template
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        body.update(self.extra_body)
        return body

    def _complete_chat(self, turns: list[tuple[str, str]], n: int, sampling: SamplingConfig, seed: int) -> list[list[Completion]]:
        def one(idx: int) -> list[Completion]:
            prompt, response = turns[idx]
            body = self.chat_body(prompt, response, n, sampling, seed + idx)
            try:
                data = self._post("/chat/completions", body)
            except OpenAIError as err:
                if response and "continue_final_message" in str(err):
                    raise OpenAIError(
                        f"{self.base_url}/chat/completions refused continue_final_message, which continuing a partial "
                        "solution (search steps) needs: serve the model with `vllm serve` (which has it), or with "
                        "/v1/completions and --chat-template none."
                    ) from None
                raise
            choices = data.get("choices")
            if not isinstance(choices, list) or len(choices) != n:
                raise OpenAIError(
                    f"{self.base_url}/chat/completions returned {len(choices) if isinstance(choices, list) else 'no'} "
                    f"choices for n={n}; is this an OpenAI-compatible chat server?"
                )
            ordered = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c.get("index"), int) else 0)
            return [parse_chat_choice(c, sampling.stop) for c in ordered]

        if len(turns) == 1 or self.max_parallel_requests == 1:
            return [one(i) for i in range(len(turns))]
        with ThreadPoolExecutor(max_workers=min(self.max_parallel_requests, len(turns))) as pool:
            return list(pool.map(one, range(len(turns))))

    # ------------------------------------------------------------ HTTP

    def _post(self, path: str, body: dict) -> dict:
        url = self.base_url + path
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        delay = self.backoff_s
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(delay)
                delay *= 2
            request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read().decode())
            except urllib.error.HTTPError as err:
                detail = err.read().decode(errors="replace")[:500]
                if err.code == 429 or err.code >= 500:
                    last_error = f"HTTP {err.code}: {detail}"
                    continue
                if path == "/completions" and _looks_chat_only(err.code, detail):
                    raise ChatOnlyServer(f"POST {url} failed with HTTP {err.code} ({' '.join(detail.split())[:200]}): the server {_CHAT_ONLY}") from None
                raise OpenAIError(f"POST {url} failed with HTTP {err.code}: {' '.join(detail.split())}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
                last_error = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
                continue
            except json.JSONDecodeError as err:
                raise OpenAIError(f"POST {url} returned invalid JSON: {err}") from None
        raise OpenAIError(
            f"POST {url} failed after {self.max_retries + 1} attempts ({last_error}); "
            "is the server running and PolicyConfig.base_url right (it should end in /v1)?"
        )


def _turns(states: Sequence[ReasoningState]) -> list[tuple[str, str]]:
    """(task prompt, steps so far) of each state."""
    return [(s.prompt, partial_response(s)) for s in states]
