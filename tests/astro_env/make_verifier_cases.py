r"""Write `verifier_cases.jsonl`: the labelled (gold, model output) regression set of the verifier.

Run from the repository root: `python -m tests.astro_env.make_verifier_cases` (needs
`math500.jsonl` in ../shared/data or $ASTRO_DATA_DIR). Each row: `gold`, `output` (a whole
completion), `label` (1 = the completion's final answer is the gold answer and earns reward under the
`standard` extraction policy; 0 = it must not), `family` and `source` (where the form of the output
comes from). Part one is written by hand, one or more rows per answer family; part two wraps
MATH-500 gold answers in answer-location templates of common model families (positives) and pairs
them with another problem's answer or a reward hack (negatives). Review the diff when regenerating.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MINERVA = "Minerva prompt format (Lewkowycz et al. 2022; lm-eval-harness minerva_math)"
BOXED_DISPLAY = "boxed answer in a display \\[ \\] block, as Qwen2.5-Math / DeepSeek-R1 write it"
MD = "markdown bold answer line, as chat models write it"
CHATML = "ChatML tail (Qwen chat template) after the answer"
LLAMA3 = "Llama-3 chat template tail after the answer"
MATHGOLD = "MATH dataset answer spelling (Hendrycks et al. 2021)"
ISSUE = "verifier issue examples (reward-hack review)"
GSM = "GSM8K-style '#### N' / 'The answer is N' chain-of-thought ending"

HAND: list[tuple[str, str, int, str, str]] = [
    # relations and inequalities
    (r"x \ge 3", r"Solving, $\boxed{3 \le x}$.", 1, "relations", MATHGOLD),
    (r"x \ge 3", r"So the solution set is $\boxed{x >= 3}$.", 1, "relations", "plain-ASCII relation, as small models write it"),
    (r"x \ge 3", r"Therefore $\boxed{x \geq 3}$.", 1, "relations", MATHGOLD),
    (r"x \ge 3", r"Therefore $\boxed{x > 3}$.", 0, "relations", MATHGOLD),
    (r"x \ge 3", r"Therefore $\boxed{x \le 3}$.", 0, "relations", MATHGOLD),
    ("x > 2", r"Dividing by $-1$ flips nothing yet: $\boxed{-x < -2}$.", 1, "relations", MATHGOLD),
    ("x > 2", r"$\boxed{x < 2}$", 0, "relations", MATHGOLD),
    (r"x \neq 1", r"The only excluded value gives $\boxed{x != 1}$.", 1, "relations", "plain-ASCII relation, as small models write it"),
    (r"x \neq 1", r"$\boxed{x \ne 1}$", 1, "relations", MATHGOLD),
    (r"x \neq 1", r"$\boxed{x \ne -1}$", 0, "relations", MATHGOLD),
    ("[1,4]", r"Hence $\boxed{1 \le x \le 4}$.", 1, "relations", MATHGOLD),
    ("[1,4]", r"Hence $\boxed{1 < x < 4}$.", 0, "relations", MATHGOLD),
    ("(-3, 8)", r"So $\boxed{-3 < a < 8}$.", 1, "relations", MATHGOLD),
    ("(-3, 8)", r"So $\boxed{-3 \le a < 8}$.", 0, "relations", MATHGOLD),
    (r"(2, \infty)", r"The inequality holds for $\boxed{x > 2}$.", 1, "relations", MATHGOLD),
    (r"(-\infty, 5]", r"$\boxed{x \leq 5}$", 1, "relations", MATHGOLD),
    (r"(-\infty, 5]", r"$\boxed{x < 5}$", 0, "relations", MATHGOLD),
    (r"(-\infty,-1] \cup [3,\infty)", r"$\boxed{x \le -1 \text{ or } x \ge 3}$", 1, "relations", MATHGOLD),
    (r"(-\infty,-1] \cup [3,\infty)", r"$\boxed{x \le -1 \text{ or } x > 3}$", 0, "relations", MATHGOLD),
    (r"[-2, 7]", r"$\boxed{7 \ge x \ge -2}$", 1, "relations", MATHGOLD),
    # several answers
    (r"\{-5, 2\}", r"The roots are $\boxed{2}$ and $\boxed{-5}$.", 1, "multi", "one box per root, as instruction-tuned models write it"),
    ("-5, 2", r"The roots are $\boxed{2}$ and $\boxed{-5}$.", 1, "multi", "one box per root, as instruction-tuned models write it"),
    ("2", r"It is $\boxed{2}$ or maybe $\boxed{-5}$.", 0, "multi", ISSUE),
    ("3, 7", r"So $n = \boxed{3}$ and $n = \boxed{7}$.", 1, "multi", "one box per root, as instruction-tuned models write it"),
    ("3, 7", r"So $n = \boxed{3}$ and $n = \boxed{8}$.", 0, "multi", "one box per root, as instruction-tuned models write it"),
    ("3, 7, 9", r"So $\boxed{3}$ and $\boxed{7}$.", 0, "multi", "one box per root, as instruction-tuned models write it"),
    ("4, 9", r"The values are $\boxed{4 \text{ and } 9}$.", 1, "multi", MATHGOLD),
    ("4, 9", r"The values are $\boxed{4 \text{ and } 10}$.", 0, "multi", MATHGOLD),
    (r"-5 \text{ or } 2", r"$\boxed{2, -5}$", 1, "multi", MATHGOLD),
    (r"1 \text{ or } 6", r"$\boxed{6 \text{ or } 1}$", 1, "multi", MATHGOLD),
    ("3", r"$\boxed{2 \text{ or } 3}$", 0, "multi", ISSUE),
    ("3", r"$\boxed{3 \text{ or } -3}$", 0, "multi", ISSUE),
    ("3", r"$\boxed{\pm 3}$", 0, "multi", ISSUE),
    (r"\pm 3", r"$\boxed{3, -3}$", 1, "multi", MATHGOLD),
    (r"1 \pm \sqrt{5}", r"$\boxed{1+\sqrt{5}, 1-\sqrt{5}}$", 1, "multi", MATHGOLD),
    (r"1+\sqrt{5}, 1-\sqrt{5}", r"$\boxed{1 \pm \sqrt{5}}$", 1, "multi", MATHGOLD),
    (r"\text{(C)}", r"$\boxed{A, B, C, D, E}$", 0, "multi", ISSUE),
    ("-2, 1", r"$\boxed{x = -2, x = 1}$", 1, "multi", MATHGOLD),
    ("-2, 1", r"$\boxed{x = -2 \text{ or } x = 1}$", 1, "multi", MATHGOLD),
    # equations and labels
    ("(2,5)", r"$\boxed{(a,b)=(2,5)}$", 1, "equations", "labelled tuple, as models restate the unknowns"),
    ("(2,5)", r"$\boxed{(a,b)=(5,2)}$", 0, "equations", "labelled tuple, as models restate the unknowns"),
    ("k = 7", r"$\boxed{7}$", 1, "equations", MATHGOLD),
    ("7", r"$\boxed{k = 7}$", 1, "equations", MATHGOLD),
    ("7", r"$\boxed{k = 8}$", 0, "equations", MATHGOLD),
    ("5", r"$\boxed{y = 2+3 = 5}$", 1, "equations", "chained equality ending in the value"),
    ("6", r"$\boxed{y = 2+3 = 5}$", 0, "equations", "chained equality ending in the value"),
    ("3:8", r"$\boxed{AB:CD = 3:8}$", 1, "equations", "labelled ratio"),
    ("y = 2x + 3", r"$\boxed{2x - y + 3 = 0}$", 1, "equations", "equation rearranged"),
    ("y = 2x + 3", r"$\boxed{y = 3x + 2}$", 0, "equations", MATHGOLD),
    ("5x - 7y + 11z + 4 = 0", r"$\boxed{10x - 14y + 22z + 8 = 0}$", 1, "equations", "plane equation scaled (MATH precalculus)"),
    ("5x - 7y + 11z + 4 = 0", r"$\boxed{5x - 7y + 11z - 4 = 0}$", 0, "equations", "plane equation scaled (MATH precalculus)"),
    ("f(x) = x^2", r"$\boxed{x^2}$", 1, "equations", MATHGOLD),
    (r"\angle ABC = 40^\circ", r"$\boxed{40}$", 1, "equations", MATHGOLD),
    ("x^2 + y^2 = 25", r"$\boxed{y^2 + x^2 = 25}$", 1, "equations", MATHGOLD),
    ("x^2 + y^2 = 25", r"$\boxed{x^2 + y^2 = 5}$", 0, "equations", MATHGOLD),
    # number formats
    ("12345", r"$\boxed{12,\!345}$", 1, "numbers", MATHGOLD),
    ("12345", r"$\boxed{12{,}345}$", 1, "numbers", "siunitx-style grouping braces"),
    ("12345", r"$\boxed{12\,345}$", 1, "numbers", "thin-space grouping (ISO style)"),
    ("12345", r"$\boxed{12,354}$", 0, "numbers", MATHGOLD),
    ("1000000", r"$\boxed{1,000,000}$", 1, "numbers", MATHGOLD),
    ("B", r"$\boxed{\text{(B)}}$", 1, "numbers", MATHGOLD),
    ("B", r"$\boxed{\textbf{B}}$", 1, "numbers", MD),
    ("B", r"$\boxed{(B)}$", 1, "numbers", MATHGOLD),
    ("B", r"$\boxed{\textbf{(C)}}$", 0, "numbers", MD),
    (r"\text{(D)}", r"The answer is $\boxed{D}$.", 1, "numbers", MATHGOLD),
    ("x", r"$\boxed{X}$", 0, "numbers", ISSUE),
    ("5", r"$\boxed{\text{not } 5}$", 0, "numbers", ISSUE),
    ("1", r"$\boxed{\mathrm{Integer}(1)}$", 0, "numbers", ISSUE),
    ("15", r"The length is $\boxed{15 \text{ cm}}$.", 1, "units", MATHGOLD),
    ("20", r"She pays $\boxed{20 \textnormal{ dollars}}$.", 1, "units", "\\textnormal units, as GPT-4-class models write them"),
    ("45", r"$\boxed{45^\circ}$", 1, "units", MATHGOLD),
    ("45", r"$\boxed{45^{\circ}}$", 1, "units", MATHGOLD),
    ("45", r"$\boxed{54^\circ}$", 0, "units", MATHGOLD),
    ("864", r"$\boxed{864 \text{ inches}^2}$", 1, "units", MATHGOLD),
    ("5", r"$\boxed{5 \text{ apples}}$", 1, "units", "count with its noun"),
    ("18.90", r"$\boxed{\$18.90}$", 1, "units", MATHGOLD),
    ("25\\%", r"$\boxed{25}$", 1, "units", MATHGOLD),
    (r"\frac{3}{7}", r"$\boxed{0.4286}$", 1, "decimals", "decimal to four places for a fraction"),
    (r"\frac{1}{7}", r"$\boxed{0.142857}$", 1, "decimals", "decimal to six places for a fraction"),
    (r"\frac{1}{3}", r"$\boxed{0.33}$", 0, "decimals", "two-digit rounding of a fraction"),
    (r"\frac{3}{7}", r"$\boxed{0.43}$", 0, "decimals", "two-digit rounding of a fraction"),
    (r"\frac{3}{7}", r"$\boxed{0.4386}$", 0, "decimals", "decimal to four places for a fraction"),
    (r"\frac{1}{2}", r"$\boxed{0.5}$", 1, "decimals", MATHGOLD),
    ("0.75", r"$\boxed{\frac{3}{4}}$", 1, "decimals", MATHGOLD),
    (r"\frac{9}{4}", r"$\boxed{2\frac{1}{4}}$", 1, "decimals", MATHGOLD),
    # where the answer is
    ("18", "We get $x=4$ and $y = 7$, so $x+y+7=18$.\nFinal Answer: The final answer is $18$. I hope it is correct.", 1, "location", MINERVA),
    ("18", "We get $x=4$ and $y=14$.\nFinal Answer: The final answer is $14$. I hope it is correct.", 0, "location", MINERVA),
    ("42", "Putting it together:\n\\[\n\\boxed{\n42\n}\n\\]", 1, "location", BOXED_DISPLAY),
    ("42", "Putting it together:\n\\[\n\\boxed{42}\n\\]\nwhich is less than $100$.", 1, "location", BOXED_DISPLAY),
    ("7", r"Therefore the answer is \(7\).", 1, "location", "\\( \\) delimiters, as GPT-style models write them"),
    ("7", "Answer: 7", 1, "location", "bare 'Answer:' line"),
    ("7", "**Answer:** 7", 1, "location", MD),
    ("7", "**Final Answer**\n$7$", 1, "location", MD),
    ("7", "因此，答案是 $7$。", 1, "location", "Chinese answer cue (Qwen / DeepSeek in Chinese)"),
    ("7", "最终答案：7", 1, "location", "Chinese answer cue (Qwen / DeepSeek in Chinese)"),
    ("7", "الإجابة هي 7", 1, "location", "Arabic answer cue"),
    ("7", "Donc la réponse est $7$.", 1, "location", "French answer cue"),
    ("7", "Por lo tanto, la respuesta es 7.", 1, "location", "Spanish answer cue"),
    ("7", "Also ist die Antwort 7.", 1, "location", "German answer cue (inverted word order)"),
    ("7", "\\boxed{7}<|im_end|>\n<|im_start|>user\nAnd 2+2? \\boxed{4}", 1, "location", CHATML),
    ("7", "\\boxed{7}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n\\boxed{9}", 1, "location", LLAMA3),
    ("9", "\\boxed{7}<|im_end|>\n<|im_start|>user\nAnd 2+2? \\boxed{9}", 0, "location", CHATML),
    ("7", "The answer is 7.</s>[INST] next question [/INST] The answer is 3.", 1, "location", "Llama-2 / Mistral template tail"),
    ("5", r"The answer is 5. $\boxed{}$", 0, "location", ISSUE),
    ("5", r"It is 5 apples. $\boxed{?}$", 0, "location", ISSUE),
    ("5", r"so the value is \boxed{5", 0, "location", "completion cut at the token limit"),
    ("5", "That gives 5.\n\nHmm.", 0, "location", "ASTRO verbalised trace: tentative attempt"),
    ("5", "Let me compute: $2+3=5$ and so on", 0, "location", "no answer stated (standard policy)"),
    ("72", "She sold 48 + 24 = 72 clips.\n#### 72", 1, "location", GSM),
    ("72", "So she sold 72 clips. The answer is 72.", 1, "location", GSM),
    # matrices and vectors
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"$\boxed{\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}}$", 1, "matrices", "bmatrix for a pmatrix gold"),
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", "$\\boxed{\\left[\\begin{array}{cc}\n1 & 2 \\\\\n3 & 4\n\\end{array}\\right]}$", 1, "matrices", "array with \\left[ \\right] and line breaks"),
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"$\boxed{\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}}$", 0, "matrices", "transposed matrix"),
    (r"\begin{pmatrix} -1/3 \\ 2/3 \end{pmatrix}", r"$\boxed{\begin{pmatrix} -\frac13 \\ \frac23 \end{pmatrix}}$", 1, "matrices", MATHGOLD),
    (r"\begin{pmatrix} 2 \\ -1 \end{pmatrix}", r"$\boxed{\begin{bmatrix} 2 \\ -1 \end{bmatrix}}$", 1, "matrices", "bmatrix for a pmatrix gold"),
    (r"\begin{pmatrix} 2 \\ -1 \end{pmatrix}", r"$\boxed{\begin{pmatrix} -1 \\ 2 \end{pmatrix}}$", 0, "matrices", MATHGOLD),
    (r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}", r"$\boxed{\begin{pmatrix} 1 & 0 & 0 & 1 \end{pmatrix}}$", 0, "matrices", MATHGOLD),
    # expressions
    (r"3\sqrt{13}", r"$\boxed{\sqrt{117}}$", 1, "expressions", MATHGOLD),
    (r"\frac{\sqrt{3}}{3}", r"$\boxed{\frac{1}{\sqrt{3}}}$", 1, "expressions", MATHGOLD),
    ("2k+2", r"$\boxed{2(k+1)}$", 1, "expressions", MATHGOLD),
    ("p - q", r"$\boxed{p + q}$", 0, "expressions", MATHGOLD),
    ("6 - 5i", r"$\boxed{-5i + 6}$", 1, "expressions", MATHGOLD),
    (r"\cot x", r"$\boxed{\frac{\cos x}{\sin x}}$", 1, "expressions", MATHGOLD),
    ("7\\pi", r"$\boxed{22}$", 0, "expressions", MATHGOLD),
    (r"\text{Evelyn}", r"$\boxed{\text{Evelyn}}$", 1, "text", MATHGOLD),
    (r"\text{east}", r"$\boxed{\text{East}}$", 1, "text", MATHGOLD),
    (r"\text{east}", r"$\boxed{\text{west}}$", 0, "text", MATHGOLD),
    ("52_8", r"$\boxed{52_{8}}$", 1, "text", MATHGOLD),
    ("52_8", r"$\boxed{42}$", 0, "text", MATHGOLD),
]

TEMPLATES = [
    ("Thus the result is $\\boxed{{{a}}}$.", "boxed inline, MATH solution style (Hendrycks et al. 2021)"),
    ("Putting it together,\n\\[\n\\boxed{{{a}}}\n\\]", BOXED_DISPLAY),
    ("We are done.\nFinal Answer: The final answer is ${a}$. I hope it is correct.", MINERVA),
    ("**Final Answer**\n\\[ \\boxed{{{a}}} \\]<|im_end|>\n<|im_start|>user\nThanks!", CHATML),
    ("Therefore, the answer is ${a}$.", "'the answer is' sentence (few-shot CoT, Wei et al. 2022)"),
    ("所以答案是 ${a}$。", "Chinese answer cue (Qwen / DeepSeek in Chinese)"),
    ("The final answer is $\\boxed{{{a}}}$.<|eot_id|><|start_header_id|>user<|end_header_id|>", LLAMA3),
    ("**Answer:** ${a}$", MD),
]
HACKS = [
    ("The answer is ${a}$. $\\boxed{{}}$", "empty box after the gold (reward hack)"),
    ("$\\boxed{{{b}}}$, or perhaps $\\boxed{{{a}}}$", "two conflicting boxes (reward hack)"),
    ("$\\boxed{{{a}}}$ and also $\\boxed{{{b}}}$ \\boxed{{{c}}}", "answer spraying over several boxes (reward hack)"),
]


def _data_dir() -> Path:
    root = Path(__file__).resolve().parents[2]
    for d in (os.environ.get("ASTRO_DATA_DIR"), root.parent / "shared" / "data"):
        if d and (Path(d) / "math500.jsonl").exists():
            return Path(d)
    raise FileNotFoundError("math500.jsonl not found: set ASTRO_DATA_DIR")


def _plain(s: str) -> str:
    return s.replace(" ", "").replace("\\!", "").replace("\\dfrac", "\\frac")


def build() -> list[dict]:
    """Return every row (hand-written first, then the MATH-500 wrappers)."""
    rows = [{"gold": g, "output": o, "label": y, "family": f, "source": s} for g, o, y, f, s in HAND]
    with (_data_dir() / "math500.jsonl").open() as f:
        math500 = [json.loads(line) for line in f if line.strip()]
    answers = [r["answer"] for r in math500]
    n = len(answers)
    for k in range(0, n, 3):  # every third problem: positives in rotating templates
        gold = answers[k]
        template, source = TEMPLATES[(k // 3) % len(TEMPLATES)]
        rows.append({"gold": gold, "output": template.format(a=gold), "label": 1, "family": "math500", "source": f"MATH-500 gold answer; {source}"})
    for k in range(1, n, 6):  # negatives: another problem's answer in the same templates, or a hack
        gold, other, third = answers[k], answers[(k + 7) % n], answers[(k + 13) % n]
        if len({_plain(gold), _plain(other), _plain(third)}) < 3:
            continue
        if (k // 6) % 2 == 0:
            template, source = TEMPLATES[(k // 6) % len(TEMPLATES)]
            output = template.format(a=other)
            source = f"MATH-500 answer of another problem; {source}"
        else:
            template, source = HACKS[(k // 6) % len(HACKS)]
            output = template.format(a=gold, b=other, c=third)
            source = f"MATH-500 gold answer; {source}"
        rows.append({"gold": gold, "output": output, "label": 0, "family": "math500", "source": source})
    return rows


def main() -> None:
    out = Path(__file__).with_name("verifier_cases.jsonl")
    rows = build()
    with out.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {out.name}")


if __name__ == "__main__":
    main()
