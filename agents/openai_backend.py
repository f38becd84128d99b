"""`OpenAIPolicy`: the PolicyAgent over an OpenAI-compatible `/v1/completions` endpoint.

What `vllm serve` and SGLang expose; for teachers too large for the training machine.
Plain `urllib` (no client dependency). One HTTP request per batch of prompts
(`prompt` is a list, `n` samples each); retries with exponential backoff on connection
errors, timeouts, 429 and 5xx; other HTTP errors raise at once with the server's message.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Sequence

from agents._text import check_batch, propose_via_complete, truncate_at_stop
from agents.base import Completion, PolicyConfig, SamplingConfig, StepSample
from astro_env.errors import UserError
from astro_env.state import ReasoningState


class OpenAIError(UserError, RuntimeError):
    """The server refused or failed a request (after retries, for transient failures).

    A `UserError` (so a ValueError: command lines print it as one line) and a RuntimeError.
    """


_CHAT_ONLY = (
    "serves chat completions only, but ASTRO needs the text completions endpoint "
    "(/v1/completions: prompts continue raw text, with log-probabilities); serve the model "
    "with `vllm serve` or SGLang, or point PolicyConfig.base_url at a server that has /v1/completions."
)


def _looks_chat_only(code: int, detail: str) -> bool:
    """Whether an HTTP error says the endpoint has no /v1/completions (404/405, or a "chat model" 400)."""
    return code in (404, 405) or (code == 400 and "chat" in detail.lower())


def parse_choice(choice: dict, stops: Sequence[str]) -> Completion:
    """The Completion for one `choices[i]` item of a /v1/completions response.

    finish_reason "stop" with a stop string → ("stop", that string); "stop" without one →
    "eos"; "length" → "length". Token log-probs come from `logprobs.token_logprobs` (the first
    entry may be None when the server echoes the prompt; None is read as 0). Token ids come
    from vLLM's `token_ids` extension when present, else are left empty. Some servers keep the
    stop string in the text: it is cut here too.
    """
    text, found = truncate_at_stop(choice.get("text") or "", stops)
    reason = choice.get("finish_reason") or "length"
    stop_reason = choice.get("stop_reason")
    if not isinstance(stop_reason, str):
        stop_reason = None
    if found is not None:
        finish, stop_reason = "stop", found
    elif reason == "stop":
        finish = "stop" if stop_reason else "eos"
    elif reason == "length":
        finish = "length"
    else:
        finish = "eos"
    logprobs = choice.get("logprobs") or {}
    token_logprobs = tuple(float(x) if x is not None else 0.0 for x in (logprobs.get("token_logprobs") or ()))
    token_ids = choice.get("token_ids") or ()
    return Completion(
        text=text,
        token_ids=tuple(int(t) for t in token_ids),
        token_logprobs=token_logprobs,
        finish_reason=finish,  # type: ignore[arg-type]
        stop_reason=stop_reason if finish == "stop" else None,
    )


class OpenAIPolicy:
    """PolicyAgent over an OpenAI-compatible completions server.

    `config.model` is the served model name, `config.base_url` the API root (".../v1").
    `config.extra` may set `api_key` (sent as a Bearer token), `timeout_s` (default 600),
    `max_retries` (default 5), `backoff_s` (first retry delay, doubled each time; default 1.0),
    and `max_prompts_per_request` (default: config.max_batch_size).
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
        self.extra_body = extra
        """Any other `extra` keys are sent in the request body as-is (e.g. vLLM's top_k)."""
        self.n_unseeded_calls = 0

    def propose_steps(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[StepSample]]:
        """`n` candidate next steps per state: `complete` on `state.text` with stop=[delimiter]."""
        return propose_via_complete(self.complete, states, n, sampling, self.config.step_max_tokens)

    def complete(
        self,
        prompts: Sequence[str],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[Completion]]:
        """`n` completions per prompt (outer list aligned with `prompts`)."""
        check_batch(prompts, n)
        sampling = sampling if sampling is not None else SamplingConfig()
        seed = sampling.seed
        if seed is None:
            seed = self.config.seed * 1_000_003 + self.n_unseeded_calls
            self.n_unseeded_calls += 1
        out: list[list[Completion]] = []
        size = max(1, self.max_prompts_per_request)
        for start in range(0, len(prompts), size):
            out.extend(self._request(list(prompts[start : start + size]), n, sampling, seed + start))
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
        if not isinstance(choices, list) or len(choices) != len(prompts) * n:
            raise OpenAIError(
                f"{self.base_url}/completions returned {len(choices) if isinstance(choices, list) else 'no'} choices "
                f"for {len(prompts)} prompts x n={n}; is this an OpenAI-compatible completions server?"
            )
        if any(isinstance(c, dict) and "text" not in c and "message" in c for c in choices):
            raise OpenAIError(f"{self.base_url} answered /completions with chat messages: it {_CHAT_ONLY}")
        grouped: list[list[Completion | None]] = [[None] * n for _ in prompts]
        for pos, choice in enumerate(choices):
            index = choice.get("index")
            if not isinstance(index, int) or not 0 <= index < len(choices) or grouped[index // n][index % n] is not None:
                index = pos  # missing or malformed index: trust the response order
            grouped[index // n][index % n] = parse_choice(choice, sampling.stop)
        return grouped  # type: ignore[return-value]

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
                if _looks_chat_only(err.code, detail):
                    raise OpenAIError(f"POST {url} failed with HTTP {err.code} ({' '.join(detail.split())[:200]}): the server {_CHAT_ONLY}") from None
                raise OpenAIError(f"POST {url} failed with HTTP {err.code}: {detail}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
                last_error = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
                continue
            except json.JSONDecodeError as err:
                raise OpenAIError(f"POST {url} returned invalid JSON: {err}") from None
        raise OpenAIError(
            f"POST {url} failed after {self.max_retries + 1} attempts ({last_error}); "
            "is the server running and PolicyConfig.base_url right (it should end in /v1)?"
        )
