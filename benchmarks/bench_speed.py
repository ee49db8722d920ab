"""Speed and scale benchmark: prints numbers, asserts nothing.

    python benchmarks/bench_speed.py [--corpus ../shared/corpus] [--predict-paragraphs 94000]
                                     [--jobs 1,2] [--text-sizes 1000,10000] [--large]
                                     [--sizes 1000,10000,100000]

Every labeler runs as a child process, measured alike: wall time from its start (interpreter,
imports, model load) to its last file written, and its own peak RSS.

Prints, for a corpus made by replicating the labeled corpus with light perturbation:
- the shipped model's file size, import and load time (importing skops, then reading the file);
- end-to-end prediction (read files, label, write files) with ``newsseg predict``:
  paragraphs/s, documents/s, peak RSS and the ratio to the rule labeler, for each ``--jobs``
  value; the same file work by a plain regex/position rule labeler written here (the
  yardstick), and fastText supervised when it is installed;
- CPU seconds of each stage of the shipped model's prediction on the same paragraphs (one
  thread, one process);
- training time (one core) of the text features (word and character TF-IDF, the topic
  vocabulary) at ``--text-sizes`` paragraphs (``--large`` adds 100k);
- with ``--sizes``, training time and peak memory of ``newsseg train`` (minutes each).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"

PERTURB_SEED = 0
"""Replicas are perturbed deterministically: the same run gives the same corpus."""


# --------------------------------------------------------------------------- corpus


def read_labeled(corpus: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every labeled dump of the corpus as (name, [(label, text)])."""
    documents = []
    for path in sorted(corpus.rglob("*.tsv")):
        lines = []
        for line in path.read_text(encoding="utf-8").split("\n"):  # as newsseg reads it
            label, _, text = line.removesuffix("\r").partition("\t")
            if text:
                lines.append((label, text))
        documents.append((path.stem, lines))
    return documents


def perturb(text: str, rng: random.Random) -> str:
    """A light perturbation: swap two neighbouring words and change a digit, sometimes."""
    words = text.split(" ")
    if len(words) > 3 and rng.random() < 0.5:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    text = " ".join(words)
    if rng.random() < 0.3:
        text = re.sub(r"\d", lambda m: str(rng.randrange(10)), text, count=1)
    return text


def replicate(documents, paragraphs: int, rng: random.Random):
    """Documents replicated (and perturbed) until they hold about ``paragraphs`` lines."""
    out, total, copy = [], 0, 0
    while total < paragraphs:
        for name, lines in documents:
            if total >= paragraphs:
                break
            new = [(label, perturb(text, rng) if copy else text) for label, text in lines]
            out.append((f"{name}-r{copy}", new))
            total += len(new)
        copy += 1
    return out


def write_corpus(documents, folder: Path, labeled: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in documents:
        if labeled:
            text = "".join(f"{label}\t{line}\n" for label, line in lines)
            (folder / f"{name}.tsv").write_text(text, encoding="utf-8")
        else:
            text = "".join(f"{line}\n" for _, line in lines)
            (folder / f"{name}.txt").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- yardsticks

RULE_LEGAL = re.compile(r"©|copyright|all rights reserved|terms of use|privacy|cookies", re.I)
RULE_LONG_WORDS = 20


def rule_label(lines: list[str]) -> list[str]:
    """A plain rule labeler: first line headline, notices by regex, long lines body, the
    short lines after the last long line teasers, other short lines body."""
    words = [len(line.split()) for line in lines]
    last_long = max((i for i, n in enumerate(words) if n >= RULE_LONG_WORDS), default=0)
    labels = []
    for i, line in enumerate(lines):
        if i == 0:
            labels.append("headline")
        elif RULE_LEGAL.search(line):
            labels.append("legal")
        elif words[i] < RULE_LONG_WORDS and i > last_long:
            labels.append("teaser")
        else:
            labels.append("body")
    return labels


def read_dump_lines(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").split("\n"))
    return [line for line in lines if line]


def write_labeled(path: Path, labels: list[str], lines: list[str]) -> None:
    text = "".join(f"{label}\t{line}\n" for label, line in zip(labels, lines, strict=True))
    path.write_text(text, encoding="utf-8")


def rule_predict(in_dir: Path, out_dir: Path) -> None:
    """The same file work as ``newsseg predict -o``: read every dump, label, write a .tsv."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(in_dir.rglob("*.txt")):
        lines = read_dump_lines(path)
        write_labeled(out_dir / f"{path.stem}.tsv", rule_label(lines), lines)


def fasttext_available() -> bool:
    return importlib.util.find_spec("fasttext") is not None


FASTTEXT_SETTINGS = {"epoch": 10, "wordNgrams": 2}
"""fastText's training settings here and in fasttext_cv.py."""


def one_line(text: str) -> str:
    """A paragraph as fastText reads it: its words, joined by single spaces."""
    return " ".join(text.split())


def fasttext_training_file(documents, path: Path) -> None:
    """The labeled corpus as fastText's training file (one paragraph a line)."""
    with path.open("w", encoding="utf-8") as f:
        for _, lines in documents:
            f.writelines(f"__label__{label} {one_line(text)}\n" for label, text in lines)


def fasttext_labels(model, texts: list[str]) -> list[str]:
    """A fastText model's label of each paragraph."""
    found, _ = model.predict([one_line(text) for text in texts])
    return [names[0].removeprefix("__label__") for names in found]


def fasttext_train(training_file: Path, model_path: Path) -> None:
    """fastText supervised on a training file (its model holds about 1 GB: 2M hashed buckets)."""
    import fasttext

    model = fasttext.train_supervised(str(training_file), **FASTTEXT_SETTINGS, verbose=0)
    model.save_model(str(model_path))


def fasttext_predict(model_path: Path, in_dir: Path, out_dir: Path) -> None:
    import fasttext

    model = fasttext.load_model(str(model_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(in_dir.rglob("*.txt")):
        lines = read_dump_lines(path)
        labels = fasttext_labels(model, lines)
        write_labeled(out_dir / f"{path.stem}.tsv", labels, lines)


# --------------------------------------------------------------------------- measuring


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float


def run_measured(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run a command; its wall time and peak RSS: that of its largest process (wait4 reports
    the child and the children it waited for, not their sum)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            stderr.seek(0)
            sys.stderr.write(stderr.read())
            raise SystemExit(f"bench_speed: {' '.join(command)} failed ({process.returncode})")
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return Measured(elapsed, usage.ru_maxrss / scale)


def newsseg_env(threads: int | None = None) -> dict[str, str]:
    """The environment for newsseg in a subprocess: this checkout's code first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    if threads:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    return env


def newsseg_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "newsseg", *args]


def one_core(command: list[str]) -> list[str]:
    """``command`` pinned to one CPU where ``taskset`` exists."""
    return ["taskset", "-c", "0", *command] if shutil.which("taskset") else command


def this_script(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


# --------------------------------------------------------------------------- benchmarks


def table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def bench_training(documents, sizes: list[int], rng: random.Random, work: Path) -> list[str]:
    rows = []
    for size in sizes:
        replicas = replicate(documents, size, rng)
        folder = work / f"train-{size}"
        write_corpus(replicas, folder, labeled=True)
        model = work / f"model-{size}.skops"
        command = one_core(newsseg_command("train", str(folder), "-o", str(model), "--force"))
        measured = run_measured(command, newsseg_env(threads=1))
        paragraphs = sum(len(lines) for _, lines in replicas)
        rows.append(
            [paragraphs, len(replicas), f"{measured.seconds:.1f}", f"{measured.peak_rss_mb:.0f}"]
        )
        shutil.rmtree(folder)
        model.unlink(missing_ok=True)
    header = ["paragraphs", "documents", "train seconds (1 core)", "peak RSS MB"]
    return ["training (newsseg train, pinned to one core):", "", *table(header, rows)]


def bench_prediction(documents, paragraphs: int, jobs: list[int], rng, work: Path) -> list[str]:
    replicas = replicate(documents, paragraphs, rng)
    n_docs, n_paras = len(replicas), sum(len(lines) for _, lines in replicas)
    in_dir = work / "predict-in"
    write_corpus(replicas, in_dir, labeled=False)
    results: list[tuple[str, Measured]] = []
    rule = run_measured(this_script("--rule-labeler", str(in_dir), str(work / "rule-out")))
    results.append(("rule labeler (yardstick)", rule))
    if fasttext_available():
        model, training_file = work / "fasttext.bin", work / "fasttext-train.txt"
        fasttext_training_file(documents, training_file)
        # Trained in a child: on Linux a child's peak RSS starts from its parent's (carried
        # over when it execs), so holding fastText's model here would add 1 GB to every row.
        subprocess.run(this_script("--fasttext-train", str(training_file), str(model)), check=True)
        command = this_script("--fasttext", str(model), str(in_dir), str(work / "ft-out"))
        results.append(("fastText supervised", run_measured(command)))
    by_jobs: dict[int, Measured] = {}
    for job_count in jobs:
        out = work / f"newsseg-out-{job_count}"
        command = newsseg_command("predict", str(in_dir), "-o", str(out), "--force")
        by_jobs[job_count] = run_measured([*command, "--jobs", str(job_count)], newsseg_env())
        results.append((f"newsseg predict --jobs {job_count}", by_jobs[job_count]))
        shutil.rmtree(out)
    rows = [
        [
            name,
            f"{m.seconds:.1f}",
            f"{n_paras / m.seconds:.0f}",
            f"{n_docs / m.seconds:.1f}",
            f"{m.peak_rss_mb:.0f}",
            f"{m.seconds / rule.seconds:.1f}x",
        ]
        for name, m in results
    ]
    header = ["labeler", "seconds", "paragraphs/s", "documents/s", "peak RSS MB*", "vs rules"]
    lines = [
        f"end to end on {n_paras} paragraphs in {n_docs} files (start, read, label, write):",
        "",
        *table(header, rows),
    ]
    lines.append("* of the largest process; --jobs N adds N workers of about that size")
    if not fasttext_available():
        lines.append(
            "(fastText is not installed: pip install fasttext-community to compare with it)"
        )
    if 1 in by_jobs and len(by_jobs) > 1:
        lines.append("")
        for job_count, measured in by_jobs.items():
            if job_count != 1:
                speedup = by_jobs[1].seconds / measured.seconds
                lines.append(f"--jobs {job_count} speedup over --jobs 1: {speedup:.2f}x")
    lines += ["", *bench_stages(in_dir)]
    return lines


def bench_stages(in_dir: Path) -> list[str]:
    """The shipped model's prediction stage by stage, timed in a child process."""
    output = subprocess.run(
        this_script("--stages", str(in_dir)),
        check=True,
        capture_output=True,
        text=True,
        env=newsseg_env(threads=1),
    )
    return output.stdout.rstrip("\n").split("\n")


STAGE_RUNS = 2
"""Each stage is timed this many times; the smaller CPU time is printed."""


def time_stages(in_dir: Path) -> None:
    """Print the CPU seconds of each prediction stage of the shipped model (an
    :class:`newsseg.predictor.ArrayLabeler`) on the dumps of ``in_dir`` (run as a child: one
    process, one thread)."""
    import newsseg
    from newsseg.dataset import read_documents
    from newsseg.features import DOC_COLUMN, document_slices
    from newsseg.model_arrays import structure_settings
    from newsseg.stage_two import stage_two_matrix

    model = newsseg.load_model()
    frame = read_documents([in_dir], labeled=False)[[DOC_COLUMN, "text"]]
    model.predict_with_proba(frame.iloc[:200])  # tables built once, outside the timing
    slices = document_slices(frame[DOC_COLUMN])
    seconds: dict[str, list[float]] = {}

    def timed(name: str, stage):
        start = time.process_time()
        value = stage()
        seconds.setdefault(name, []).append(time.process_time() - start)
        return value

    def run_once() -> None:
        proba = timed("text model (TF-IDF, logistic regression)", lambda: model.text_proba(frame))
        layout = timed("layout cues", lambda: model.layout_cues(frame))
        topic = timed("topic cues (TF-IDF, similarities)", lambda: model.topic_cues(frame))
        memory = timed("site memory cues", lambda: model.memory_cues(frame))
        stacked = timed(
            "context and structure cues",
            lambda: stage_two_matrix(
                frame,
                model.classes_,
                layout=layout,
                layout_names=model.layout_names or [],
                topic=topic,
                memory=memory,
                text_proba=proba,
                use_context=model.settings["use_context"],
                structure=structure_settings(model.settings),
            ),
        )
        booster = timed("quantiser and booster", lambda: model.stage_two_proba(stacked))
        decoder = model.decoder
        timed(
            "decoding (Viterbi, marginals)",
            lambda: (decoder.decode(booster, slices), decoder.reported_proba(booster, slices)),
        )

    for _ in range(STAGE_RUNS):
        run_once()
    rows = [[name, f"{min(values):.2f}"] for name, values in seconds.items()]
    rows.append(["total", f"{sum(min(values) for values in seconds.values()):.2f}"])
    print(f"prediction stages on {len(frame)} paragraphs ({len(slices)} documents), CPU seconds")
    print(f"of one thread, the smaller of {STAGE_RUNS} runs:\n")
    print("\n".join(table(["stage", "CPU seconds"], rows)))


TEXT_SIZES = "1000,10000"
LARGE_TEXT_SIZE = 100_000


def bench_text_training(documents, sizes: list[int], rng: random.Random, work: Path) -> list[str]:
    """Training time of the text features (the TF-IDF steps ``newsseg train`` fits: words,
    characters and the topic vocabulary) on replicated paragraphs, each size in a child."""
    rows = []
    for size in sizes:
        replicas = replicate(documents, size, rng)
        texts = work / f"texts-{size}.txt"
        texts.write_text("".join(f"{one_line(t)}\n" for _, lines in replicas for _, t in lines))
        output = subprocess.run(
            one_core(this_script("--fit-text", str(texts))),
            check=True,
            capture_output=True,
            text=True,
            env=newsseg_env(threads=1),
        )
        rows.append(output.stdout.split())
        texts.unlink()
    header = ["paragraphs", "words s", "characters s", "topic words s", "total s (1 core)"]
    return ["text features training (NgramTfidf.fit, one core):", "", *table(header, rows)]


def fit_text(path: Path) -> None:
    """Fit the text feature steps of a default model on the lines of ``path`` (as a child)
    and print the paragraphs and the CPU seconds of each."""
    import pandas as pd

    from newsseg.features import TopicFeatures, paragraph_features

    texts = path.read_text(encoding="utf-8").splitlines()
    union = paragraph_features()
    seconds = []
    for _, step, _ in union.transformers:
        start = time.process_time()
        step.fit(texts)
        seconds.append(time.process_time() - start)
    start = time.process_time()
    TopicFeatures().fit(pd.DataFrame({"text": texts}))
    seconds.append(time.process_time() - start)
    print(len(texts), *(f"{value:.2f}" for value in seconds), f"{sum(seconds):.2f}")


MODEL_LOAD_RUNS = 7


def bench_model_file() -> list[str]:
    """The shipped model's size, and the median over fresh processes of importing newsseg's
    model reader and loading the default model file (arrays and JSON, no scikit-learn)."""
    code = (
        "import time; t=time.perf_counter(); import newsseg.model_file as m; i=time.perf_counter();"
        "m.load(); e=time.perf_counter(); import sys;"
        "heavy=[n for n in ('sklearn','scipy','skops') if n in sys.modules];"
        "print(m.default_model_path(), i-t, e-i, ','.join(heavy) or '-')"
    )
    command = [sys.executable, "-c", code]
    runs, heavy = [], "-"
    for _ in range(MODEL_LOAD_RUNS):
        output = subprocess.run(
            command, check=True, capture_output=True, text=True, env=newsseg_env()
        )
        path, *seconds, heavy = output.stdout.split()
        runs.append([float(value) for value in seconds])
    import_newsseg, read = (statistics.median(column) for column in zip(*runs, strict=True))
    size = Path(path).stat().st_size / 1e6
    return [
        f"default model: {size:.2f} MB; import + load {import_newsseg + read:.2f} s (importing "
        f"newsseg.model_file {import_newsseg:.2f} s, reading the file {read:.2f} s; median of "
        f"{MODEL_LOAD_RUNS} fresh processes); heavy modules imported: {heavy}"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument(
        "--sizes", default="", help="paragraphs to train newsseg on, e.g. 1000,10000,100000"
    )
    parser.add_argument("--predict-paragraphs", type=int, default=94_000)
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("--text-sizes", default=TEXT_SIZES)
    parser.add_argument("--large", action="store_true", help="text features at 100k too")
    parser.add_argument("--stages", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--fit-text", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rule-labeler", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--fasttext", nargs=3, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--fasttext-train", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rule_labeler:  # run as a child, so that it is measured as newsseg is
        rule_predict(*args.rule_labeler)
        return
    if args.stages:
        time_stages(args.stages)
        return
    if args.fit_text:
        fit_text(args.fit_text)
        return
    if args.fasttext:
        fasttext_predict(*args.fasttext)
        return
    if args.fasttext_train:
        fasttext_train(*args.fasttext_train)
        return
    if not args.corpus.is_dir():
        sys.exit(f"bench_speed: corpus not found at {args.corpus} (give --corpus)")
    documents = read_labeled(args.corpus)
    rng = random.Random(PERTURB_SEED)
    jobs = [int(j) for j in args.jobs.split(",")]
    sizes = [int(size) for size in args.sizes.split(",") if size]
    print(f"newsseg speed benchmark, {os.cpu_count()} CPUs; goals in benchmarks/README.md\n")
    with tempfile.TemporaryDirectory(prefix="newsseg-bench-") as tmp:
        work = Path(tmp)
        print("\n".join(bench_model_file()), end="\n\n", flush=True)
        prediction = bench_prediction(documents, args.predict_paragraphs, jobs, rng, work)
        print("\n".join(prediction), end="\n\n", flush=True)
        text_sizes = [int(size) for size in args.text_sizes.split(",") if size]
        text_sizes += [LARGE_TEXT_SIZE] if args.large else []
        if text_sizes:
            lines = bench_text_training(documents, text_sizes, rng, work)
            print("\n".join(lines), end="\n\n", flush=True)
        if sizes:
            print("\n".join(bench_training(documents, sizes, rng, work)), flush=True)


if __name__ == "__main__":
    main()
