"""Benchmark of the chat moderation engine (issue 13): time per message, not a test.

    python -m bench.moderation                      # corpus if present, else a generated set
    python -m bench.moderation --corpus other.jsonl --messages 3000 --json var/bench/m.json

Three measurements, all in one process, without Django set up (the engine reads its policy
defaults; no I/O):

1. the corpus (``tests/messaging/moderation_corpus.jsonl`` when it exists, else a generated,
   seeded set of everyday and bypass messages): p50/p95/p99 per message;
2. 500-character messages (everyday chat mixed with obfuscated contacts): p50/p95/p99; the
   goal is p95 <= 1 ms;
3. 100 KB adversarial inputs (whitespace, digit chains, "at"/"punto" floods, symbol soup,
   random code points): the time of each; the goal is well under a second (linear regexes,
   capped work per message).

Prints Markdown (the section kept in bench/README.md) and writes the JSON of every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from messaging.moderation import moderate  # noqa: E402 - after the path set-up

DEFAULT_CORPUS = ROOT / "tests" / "messaging" / "moderation_corpus.jsonl"

EVERYDAY = [
    "Hola! el pedido #{order} llega el {d:02d}/{m:02d} a las {h:02d}:{mi:02d}, gracias",
    "Sale ${price} el envío, pagado en la app. Av. Corrientes {street} piso {fl} depto B",
    "Obrigado! R$ {price},00 pago, entrega dia {d:02d}/{m:02d} às {h:02d}h{mi:02d}, CEP 01310-100",
    "Rua Augusta {street}, apto {fl}03, o presente chegou lindo, muito obrigada!!",
    "The gift arrived on {m}/{d}, order {order}, thanks a lot for the fast delivery",
    "Calle 5 de Mayo {street}, Col. Centro, CP 06000, de {h} a {h2} hs está bien",
    "¿Podés confirmar si el regalo incluye la tarjeta? Es para el cumple de mi mamá 🎁",
    "kkkkkk que lindo, ela vai amar. Pode entregar na portaria do prédio?",
]
BYPASS = [
    "mi cel es 11 {a}-{b}, escribime",
    "me chama no zap (11) 9{a}-{b}",
    "llamame al once cuarenta y cinco {a} {b}",
    "mandame un mail a juan punto perez{n} arroba gmail punto com",
    "segue meu insta: maria.presentes{n}",
    "mi alias es juan.perez{n}.mp, te hago transferencia directa",
    "paga por fora que sai mais barato, meu pix é 123.456.789-09",
    "ｍｉ ｗｈａｔｓ １１ {a} {b}",  # noqa: RUF001 - full-width on purpose
    "wh4ts 1️⃣1️⃣ {a} {b}",
    "sos un p.u.t.o pelotudo",
]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        order=rng.randint(10_000, 9_999_999),
        d=rng.randint(1, 28),
        m=rng.randint(1, 12),
        h=rng.randint(0, 21),
        h2=rng.randint(0, 23),
        mi=rng.randint(0, 59),
        price=f"{rng.randint(1, 999_999):,}".replace(",", "."),
        street=rng.randint(1, 9999),
        fl=rng.randint(1, 30),
        a=rng.randint(1000, 9999),
        b=rng.randint(1000, 9999),
        n=rng.randint(1, 99),
    )


def generated_corpus(count: int, seed: int = 13) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        pool = EVERYDAY if rng.random() < 0.7 else BYPASS
        out.append((_fill(rng.choice(pool), rng), rng.choice(["AR", "MX", "BR"])))
    return out


def messages_500(count: int, seed: int = 500) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < 500:
            pool = EVERYDAY if rng.random() < 0.8 else BYPASS
            parts.append(_fill(rng.choice(pool), rng))
        out.append((" ".join(parts)[:500], rng.choice(["AR", "MX", "BR"])))
    return out


def load_corpus(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append((str(row["text"]), str(row.get("country") or "AR")))
    return rows


def adversarial() -> dict[str, str]:
    rng = random.Random(100)
    size = 100_000
    return {
        "spaces": " " * size,
        "digit chain '1 '": "1 " * (size // 2),
        "digits": "1" * size,
        "' at ' flood": "a at " * (size // 5),
        "'punto' flood": "x punto " * (size // 8),
        "'a.' flood": "a." * (size // 2),
        "e-mail-like 'a.a@a.'": "a.a@a." * (size // 6),
        "'www.' flood": "www." * (size // 4),
        "spaced letters": "a b " * (size // 4),
        "symbol soup": "".join(rng.choice("0123456789 .-@abc:/xyz") for _ in range(size)),
        "zero-width + digits": "1\u200b" * (size // 2),
        "random code points": "".join(chr(rng.randint(0, 0x2FFFF)) for _ in range(size)),
        "number words": "cinco " * (size // 6),
        "p.u. flood": "p.u." * (size // 4),
    }


CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}


def timed(messages: Sequence[tuple[str, str]], runs: int, clock_name: str) -> list[float]:
    """Milliseconds per message (the best of ``runs`` passes for each message), on the CPU
    clock of this process (``cpu``: what the engine costs, even on a busy machine) or the
    wall clock (``wall``: includes waiting for a core)."""
    best = [float("inf")] * len(messages)
    clock = CLOCKS[clock_name]
    for _ in range(runs):
        for index, (text, country) in enumerate(messages):
            start = clock()
            moderate(text, country_code=country)
            elapsed = (clock() - start) * 1000
            best[index] = min(best[index], elapsed)
    return best


def percentiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "count": len(ordered),
        "p50_ms": round(at(0.50), 4),
        "p95_ms": round(at(0.95), 4),
        "p99_ms": round(at(0.99), 4),
        "max_ms": round(ordered[-1], 4),
        "mean_ms": round(statistics.fmean(ordered), 4),
    }


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"


def run(args: argparse.Namespace) -> dict[str, Any]:
    corpus_path = Path(args.corpus) if args.corpus else DEFAULT_CORPUS
    if corpus_path.is_file():
        corpus, source = load_corpus(corpus_path), str(corpus_path.relative_to(ROOT))
    else:
        corpus, source = generated_corpus(args.messages), f"generated ({args.messages}, seed 13)"
    long_messages = messages_500(args.messages)
    for text, country in corpus[:200]:  # warm-up: caches, compiled patterns
        moderate(text, country_code=country)
    result: dict[str, Any] = {
        "benchmark": "bench/moderation.py",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "runs": args.runs,
        "clock": args.clock,
        "corpus": {"source": source, **percentiles(timed(corpus, args.runs, args.clock))},
        "messages_500": {
            "source": f"generated ({args.messages}, seed 500)",
            **percentiles(timed(long_messages, args.runs, args.clock)),
        },
        "adversarial_100kb_ms": {},
    }
    clock = CLOCKS[args.clock]
    for name, text in adversarial().items():
        start = clock()
        moderate(text, country_code="AR")
        result["adversarial_100kb_ms"][name] = round((clock() - start) * 1000, 1)
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Run {result['started_at']} at {result['commit']}, {m['nproc']} CPUs, Python "
        f"{m['python']}, load average {m['loadavg_start'][0]} -> {m['loadavg_end'][0]}; "
        f"best of {result['runs']} passes per message, {result['clock']} clock.",
        "",
        "| set | messages | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in (("corpus", result["corpus"]["source"]), ("messages_500", "500 chars")):
        r = result[key]
        lines.append(
            f"| {label} | {r['count']} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | "
            f"{r['p99_ms']:.3f} | {r['max_ms']:.3f} |"
        )
    lines += ["", "| 100 KB adversarial input | ms |", "| --- | ---: |"]
    for name, ms in result["adversarial_100kb_ms"].items():
        lines.append(f"| {name} | {ms:.1f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", help=f"JSONL corpus (default {DEFAULT_CORPUS.name} if present)")
    parser.add_argument("--messages", type=int, default=2000, help="generated messages per set")
    parser.add_argument("--runs", type=int, default=3, help="passes; the best per message counts")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="cpu", help="cpu (default) or wall"
    )
    parser.add_argument("--json", help="where to write the figures (default: print only)")
    args = parser.parse_args(argv)
    result = run(args)
    print(markdown(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
