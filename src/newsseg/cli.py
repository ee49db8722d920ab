"""The ``newsseg`` command: parse options, call one function of :mod:`newsseg.api`, print.

Known errors (:class:`~newsseg.errors.NewssegError`) become one line on stderr and exit 1;
anything else is a bug: it keeps its traceback, asks to be reported and exits 70.

Start-up: each command imports :mod:`newsseg.api` (and the report tables) when it runs,
since they load scikit-learn and pandas, seconds that ``--help`` and a usage error need not
wait for.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from newsseg.annotate import RETRAIN_EVERY
from newsseg.config import LABELS, TOP_FEATURES
from newsseg.errors import NewssegError
from newsseg.progress import progress_bars, wants_bars

app = typer.Typer(
    name="newsseg",
    help="Label every paragraph of news-page dumps as headline, body, legal or teaser.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: paragraphs reflowed to the terminal (rich keeps the docstrings' line
    # breaks), and no markup to eat brackets such as 'newsseg[dask]'.
    rich_markup_mode=None,
)


class HelpCommand(typer.core.TyperCommand):
    """A command whose help names each argument by its metavar alone, as click does
    (``PATH...``, ``[MODEL]``), not typer's ``{paths}...`` and ``<list[str]>``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, typer.core.TyperArgument) and param.metavar:
                param.display_type_rich = _no_type  # type: ignore[method-assign]
                param._usage_display_name = functools.partial(_usage_name, param)  # type: ignore[method-assign]


def _no_type(ctx: object) -> None:
    return None


def _usage_name(param: typer.core.TyperArgument) -> str:
    name = f"{param.metavar}..." if param.nargs != 1 else str(param.metavar)
    return name if param.required else f"[{name}]"


def _show_version(show: bool) -> None:
    if show:
        typer.echo(version_line())
        raise typer.Exit()


def version_line() -> str:
    """``newsseg X.Y.Z``, and the newsseg version that trained the shipped model (read from
    its metadata file: no scikit-learn import)."""
    from newsseg.config import VERSION

    line = f"newsseg {VERSION}"
    trained_by = _shipped_model_version()
    return line + (f" (shipped model trained by newsseg {trained_by})" if trained_by else "")


def _shipped_model_version() -> str | None:
    import json
    from importlib import resources

    from newsseg.config import DEFAULT_MODEL_NAME, DEFAULT_MODEL_PACKAGE

    name = Path(DEFAULT_MODEL_NAME).stem + ".meta.json"
    try:
        text = resources.files(DEFAULT_MODEL_PACKAGE).joinpath(name).read_text("utf-8")
    except (ModuleNotFoundError, OSError):  # an editable install maps only src/
        try:
            text = (Path(__file__).resolve().parents[2] / "models" / name).read_text("utf-8")
        except OSError:
            return None
    return json.loads(text).get("newsseg_version")


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Show the version of newsseg (and of the shipped model's trainer) and exit.",
        ),
    ] = False,
) -> None:
    """Label every paragraph of news-page dumps as headline, body, legal or teaser."""


class OutputFormat(str, Enum):
    tsv = "tsv"
    jsonl = "jsonl"
    csv = "csv"


class GroupBy(str, Enum):
    site = "site"
    doc = "doc"


# Options shared by several commands, declared once.
Paths = Annotated[
    list[str],
    typer.Argument(
        help="Files, folders (searched recursively) or '-' for standard input.",
        metavar="PATH",
        show_default=False,
    ),
]
OptionalPaths = Annotated[
    list[str] | None,
    typer.Argument(
        help="Files, folders (searched recursively) or '-' for standard input.",
        metavar="PATH",
        show_default=False,
    ),
]
ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Model file (.npz; a newsseg 0.x .skops file needs skops). Default: the shipped "
        "model.",
        metavar="MODEL",
        show_default=False,
    ),
]
TrustPickle = Annotated[
    bool,
    typer.Option(
        "--trust-pickle",
        help="Allow a pickle-based model (.joblib). Loading it RUNS CODE from the file: "
        "use only with files from a source you trust.",
    ),
]
Encoding = Annotated[
    str, typer.Option("--encoding", help="Text encoding of the inputs.", metavar="NAME")
]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]
NoSequence = Annotated[
    bool,
    typer.Option(
        "--no-sequence",
        help="Take each paragraph's most probable label instead of decoding each document's "
        "labels together (for comparison).",
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress bars (they are off anyway when stderr is no terminal)."
    ),
]
JsonPath = Annotated[
    Path | None,
    typer.Option("--json", help="Also write the results as JSON to this file.", metavar="FILE"),
]
ReportDir = Annotated[
    Path | None,
    typer.Option(
        "--report",
        metavar="DIR",
        help="Also write a report into this folder: a self-contained HTML page, its Markdown, "
        "its pictures, and errors.csv (evaluate: every misclassified paragraph) or cv.json (cv).",
    ),
]
DEFAULT_LABELS = ",".join(LABELS)
LabelSet = Annotated[
    str,
    typer.Option(
        "--labels", help="Comma-separated label set the data may use.", metavar="L1,L2,..."
    ),
]
Only = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        metavar="COLUMN=VALUES",
        help="Use only the documents whose manifest.csv column (site, source or labels) has "
        "one of these comma-separated values, e.g. --only labels=reviewed. Repeatable.",
        show_default=False,
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        metavar="COLUMN=VALUES",
        help="Leave out the documents whose manifest.csv column (site, source or labels) has "
        "one of these values, e.g. --exclude source=wcxb_articles. Repeatable.",
        show_default=False,
    ),
]


Weight = Annotated[
    list[str] | None,
    typer.Option(
        "--weight",
        metavar="COLUMN=VALUES[:LABEL]=W",
        help="Weigh the training paragraphs of the documents whose manifest.csv column has one "
        "of these values (only those labeled LABEL, when given) by W in the booster, e.g. "
        "--weight labels=rules:teaser=0.5 for a tier's noisier teaser labels. Repeatable; "
        "weights multiply.",
        show_default=False,
    ),
]


def _parsed(parse: Callable, *terms):
    """``parse(*terms)``, its ``ValueError`` (``"name: reason"``, a library message naming
    its parameter) turned into a usage error of the option ``--name``."""
    try:
        return parse(*terms)
    except ValueError as error:
        name, _, reason = str(error).partition(": ")
        raise typer.BadParameter(reason, param_hint=f"'--{name}'") from None


def _weighting(weight: list[str] | None):
    """The training weights --weight gives (a usage error when malformed)."""
    from newsseg.dataset import Weighting

    return _parsed(Weighting.parse, weight or ())


def _selection(only: list[str] | None, exclude: list[str] | None):
    """The documents --only and --exclude choose (a usage error when malformed)."""
    from newsseg.dataset import Selection

    return _parsed(Selection.parse, only or (), exclude or ())


ERROR_EXIT = 1
"""Exit status of a known error (bad input, model or output)."""
BUG_EXIT = 70
"""Exit status of an unexpected error, a bug (``EX_SOFTWARE`` of sysexits.h)."""
BUG_HINT = "newsseg: this is a bug; please report it with the traceback above"

Command = TypeVar("Command", bound=Callable[..., None])


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Characters that would act on a terminal (ANSI escapes) or reorder the line (direction
overrides) if a file name or text holding them were printed as it is."""


FLAGS = {
    "ablation": "--ablation",
    "base": "--base",
    "cv": "--cv",
    "dask_scheduler": "--dask-scheduler",
    "encoding": "--encoding",
    "force": "--force",
    "jobs": "--jobs",
    "labels": "--labels",
    "min_confidence": "--min-confidence",
    "order": "--order",
    "output_dir": "--output-dir",
    "output_format": "--format",
    "proba": "--proba",
    "retrain_every": "--retrain-every",
    "skip_existing": "--skip-existing",
    "trust_pickle": "--trust-pickle",
}
"""The option of each library parameter that library messages name."""

_PARAMETER = re.compile(rf"\b({'|'.join(FLAGS)})=(True\b|\.\.\.)?")
"""A parameter as library messages name it: ``force=True``, ``output_dir=...`` (given at
all), or ``encoding=NAME`` (with a value)."""


def flag_wording(message: str) -> str:
    """A library message with the parameters it names as the options users type:
    ``force=True`` and ``output_dir=...`` as ``--force`` and ``--output-dir``,
    ``encoding=NAME`` as ``--encoding NAME``."""
    return _PARAMETER.sub(lambda m: FLAGS[m.group(1)] + ("" if m.group(2) else " "), message)


def error_line(error: NewssegError) -> str:
    """A known error as the one line the user sees, in the options' words (see
    :func:`flag_wording`); control characters in it (from a file name, say) are shown
    escaped, as ``\\x1b``, so they cannot act on the terminal."""
    message = flag_wording(" ".join(str(error).splitlines()))
    return "newsseg: error: " + _CONTROL.sub(
        lambda m: m.group().encode("unicode_escape").decode(), message
    )


def reports_errors(command: Command) -> Command:
    """Run ``command`` so that a known error prints one line and exits 1, while anything
    else prints its traceback and asks to be reported (exit 70)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            with _terminate_as_interrupt():
                return command(*args, **kwargs)
        except NewssegError as error:
            typer.echo(error_line(error), err=True)
            raise typer.Exit(ERROR_EXIT) from None
        except (typer.Exit, typer.Abort, typer.exceptions.TyperException):
            raise  # typer's own way out
        except BrokenPipeError:
            _quiet_stdout()  # the reader of our output went away (| head): end quietly
            raise typer.Exit(ERROR_EXIT) from None
        except Exception:
            traceback.print_exc()
            typer.echo(BUG_HINT, err=True)
            raise typer.Exit(BUG_EXIT) from None

    return run  # type: ignore[return-value]


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Take SIGTERM (``kill``, a container stopping) as Ctrl-C while a command runs: the
    KeyboardInterrupt unwinds the writes, so no temporary file is left behind."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises no second BrokenPipeError."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@app.command(cls=HelpCommand, short_help="Train a model on labeled dumps and save it.")
@reports_errors
def train(
    paths: Paths,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Where to write the model (*.npz).", metavar="MODEL"),
    ],
    cv: Annotated[
        int | None,
        typer.Option(
            "--cv",
            min=2,
            help="Also score K-fold cross-validation grouped by site.",
            metavar="K",
        ),
    ] = None,
    ablation: Annotated[
        bool,
        typer.Option(
            "--ablation",
            help="With --cv: also cross-validate the model with each component switched off "
            "(or on) and record the table in the metadata (one more CV per component).",
        ),
    ] = False,
    labels: LabelSet = DEFAULT_LABELS,
    encoding: Encoding = "utf-8",
    only: Only = None,
    exclude: Exclude = None,
    weight: Weight = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Train a model on labeled dumps (*.tsv, tables) and save it with its metadata."""
    selection, weighting = _selection(only, exclude), _weighting(weight)
    from newsseg import api  # on use: see Start-up above
    from newsseg.health import TrainingHealthWarning
    from newsseg.report import ablation_table, cv_table

    with progress_bars(wants_bars(quiet)) as track, warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingHealthWarning)  # printed below, once
        metadata = api.train(
            paths,
            output,
            cv=cv,
            ablation=ablation,
            labels=_label_set(labels),
            encoding=encoding,
            selection=selection,
            weighting=weighting,
            force=force,
            track=track,
        )
    data = metadata["training_data"]
    typer.echo(
        f"trained on {data['documents']} documents, {data['paragraphs']} paragraphs "
        f"({data['sites']} sites); wrote {output}"
    )
    if metadata["cv"]:
        typer.echo(cv_table(metadata["cv"]))
    if metadata.get("ablation"):
        typer.echo("\n" + ablation_table(metadata["ablation"]))
    for warning in metadata["health"]["warnings"]:
        typer.secho(f"newsseg: WARNING: {warning}", err=True, fg="red", bold=True)
    if metadata["health"]["warnings"]:
        typer.echo(
            f"newsseg: the warnings are recorded in {output}'s metadata ('health')", err=True
        )


@app.command(cls=HelpCommand, short_help="Score a model on labeled dumps.")
@reports_errors
def evaluate(
    paths: Paths,
    model: ModelOption = None,
    json_path: JsonPath = None,
    report_dir: ReportDir = None,
    trust_pickle: TrustPickle = False,
    encoding: Encoding = "utf-8",
    only: Only = None,
    exclude: Exclude = None,
    no_sequence: NoSequence = False,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Score a model on labeled dumps: per-label table, macro-F1, accuracy, confusion."""
    selection = _selection(only, exclude)
    from newsseg import api  # on use: see Start-up above
    from newsseg.dataset import check_output
    from newsseg.report import score_table, write_json

    with progress_bars(wants_bars(quiet)) as track:
        if report_dir is None:
            labeler = api.load_model(model, trust_pickle=trust_pickle)
            scores = api.evaluate_model(
                paths,
                labeler,
                encoding=encoding,
                json_path=json_path,
                track=track,
                no_sequence=no_sequence,
                selection=selection,
                force=force,
            )
        else:
            if json_path is not None:
                check_output(json_path, force)
            scores = api.evaluate_report(
                paths,
                report_dir,
                model,
                trust_pickle=trust_pickle,
                encoding=encoding,
                selection=selection,
                track=track,
                no_sequence=no_sequence,
            ).scores
            if json_path is not None:
                write_json(json_path, scores)
    typer.echo(score_table(scores))
    if report_dir is not None:
        typer.echo(f"wrote the report to {report_dir}", err=True)


@app.command(cls=HelpCommand, short_help="Label every paragraph of dumps, labeled dumps or tables.")
@reports_errors
def predict(
    paths: OptionalPaths = None,
    model: ModelOption = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            help="Write one file per input document here, not to stdout.",
            metavar="DIR",
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.", metavar="tsv|jsonl|csv")
    ] = OutputFormat.tsv,
    proba: Annotated[
        bool, typer.Option("--proba", help="Add per-label probabilities (jsonl, csv).")
    ] = False,
    article: Annotated[
        bool,
        typer.Option(
            "--article",
            help="Write only the headline and body lines, in order, as plain text "
            "(DIR/NAME.txt with -o).",
        ),
    ] = False,
    files_from: Annotated[
        Path | None,
        typer.Option(
            "--files-from",
            help="Also read the inputs listed in this file, one path a line ('-': stdin).",
            metavar="LIST",
            show_default=False,
        ),
    ] = None,
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing",
            help="Keep output files that exist and do not label their inputs (resume a run).",
        ),
    ] = False,
    trust_pickle: TrustPickle = False,
    encoding: Encoding = "utf-8",
    force: Force = False,
    fail_fast: Annotated[
        bool,
        typer.Option(
            "--fail-fast",
            help="Stop at the first input that cannot be read. Default: predict the others "
            "and list the bad ones at the end.",
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes that read and label batches of inputs.",
            metavar="N",
        ),
    ] = 1,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            "--dask-scheduler",
            metavar="ADDRESS",
            help="Label the batches on the Dask cluster at this address ('local' starts one "
            "of --jobs workers). Needs pip install 'newsseg[dask]'.",
            show_default=False,
        ),
    ] = None,
    min_confidence: Annotated[
        float | None,
        typer.Option(
            "--min-confidence",
            metavar="P",
            min=0.0,
            max=1.0,
            help="Mark paragraphs whose label has a lower probability for review "
            "(a 'review' field; jsonl, csv).",
            show_default=False,
        ),
    ] = None,
    no_sequence: NoSequence = False,
    quiet: Quiet = False,
) -> None:
    """Label every paragraph of dumps (*.txt), labeled dumps or tables."""
    from newsseg import api  # on use: see Start-up above
    from newsseg.dataset import read_path_list
    from newsseg.predict import check_predict_options
    from newsseg.predict.outputs import ARTICLE_FORMAT

    if article and output_format is not OutputFormat.tsv:
        raise NewssegError("--article writes plain text; leave out --format")
    chosen_format = ARTICLE_FORMAT if article else output_format.value
    # Settings that do not go together fail before the model loads (seconds).
    check_predict_options(
        chosen_format, proba, min_confidence, jobs, output_dir, force, skip_existing
    )
    inputs = list(paths or [])
    if files_from is not None:
        inputs += read_path_list(files_from, encoding)
    if not inputs:
        raise NewssegError("no inputs: name files or folders, or give --files-from LIST")
    labeler = api.load_model(model, trust_pickle=trust_pickle)
    with progress_bars(wants_bars(quiet)) as track:
        run = api.predict(
            inputs,
            labeler,
            output_dir=output_dir,
            stream=sys.stdout if output_dir is None else None,
            output_format=chosen_format,
            proba=proba,
            encoding=encoding,
            force=force,
            fail_fast=fail_fast,
            min_confidence=min_confidence,
            no_sequence=no_sequence,
            jobs=jobs,
            skip_existing=skip_existing,
            dask_scheduler=dask_scheduler or None,
            track=track,
        )
    if run.written:
        typer.echo(f"wrote {len(run.written)} file(s) to {output_dir}", err=True)
    if (run.labeled or run.skipped) and not quiet:  # bad inputs alone: their errors only
        typer.echo(run.summary(), err=True)
    for error in run.failed:
        typer.echo(error_line(error), err=True)
    if run.failed:
        raise typer.Exit(ERROR_EXIT)


@app.command(cls=HelpCommand, short_help="Cross-validate a new model, grouped by site or document.")
@reports_errors
def cv(
    paths: Paths,
    folds: Annotated[
        int, typer.Option("--folds", "-k", min=2, help="Number of folds.", metavar="K")
    ] = 5,
    group_by: Annotated[
        GroupBy,
        typer.Option(
            "--group-by",
            help="Keep each site (or each document) on one side of every split.",
            metavar="site|doc",
        ),
    ] = GroupBy.site,
    curve_points: Annotated[
        int,
        typer.Option(
            "--curve-points",
            metavar="N",
            min=1,
            help="Points of the learning curve: each fold is also trained on 1/N, 2/N, ... "
            "of its training groups (1: no curve).",
        ),
    ] = 4,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write the learning curve to this PNG file.", metavar="FILE.png"
        ),
    ] = None,
    report_dir: ReportDir = None,
    json_path: JsonPath = None,
    labels: LabelSet = DEFAULT_LABELS,
    encoding: Encoding = "utf-8",
    only: Only = None,
    exclude: Exclude = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Grouped K-fold cross-validation of a new model: mean ± std per metric and per label,
    and a learning curve (score against the number of training documents)."""
    selection = _selection(only, exclude)
    from newsseg import api  # on use: see Start-up above
    from newsseg.report import cv_table

    with progress_bars(wants_bars(quiet)) as track:
        result = api.cross_validation(
            paths,
            folds=folds,
            group_by=group_by.value,
            curve_points=curve_points,
            labels=_label_set(labels),
            encoding=encoding,
            selection=selection,
            json_path=json_path,
            plot_path=plot,
            report_dir=report_dir,
            track=track,
            force=force,
        )
    typer.echo(cv_table(result))


@app.command(cls=HelpCommand, short_help="Show a model's metadata and strongest features.")
@reports_errors
def inspect(
    model: Annotated[
        Path | None,
        typer.Argument(
            help="Model file (.npz or a 0.x .skops). Default: the shipped model.",
            metavar="MODEL",
            show_default=False,
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option(
            "--top", "-n", min=1, help="Strongest features to list per label.", metavar="N"
        ),
    ] = TOP_FEATURES,
    json_path: JsonPath = None,
    trust_pickle: TrustPickle = False,
    force: Force = False,
) -> None:
    """Show a model's metadata (versions, labels, training data, CV scores, the ablation
    table) and the strongest features towards each label."""
    from newsseg import api  # on use: see Start-up above
    from newsseg.dataset import check_output
    from newsseg.report import inspect_table, write_json

    if json_path is not None:
        check_output(json_path, force)
    info = api.inspect_model(model, top=top, trust_pickle=trust_pickle)
    if json_path is not None:
        write_json(json_path, info)
    typer.echo(inspect_table(info))


@app.command(
    "convert-model",
    cls=HelpCommand,
    short_help="Write a newsseg 0.x model file (.skops) as a model file of arrays (.npz).",
)
@reports_errors
def convert_model(
    source: Annotated[
        Path, typer.Argument(help="The 0.x model file (.skops, or a .joblib).", metavar="OLD")
    ],
    target: Annotated[Path, typer.Argument(help="The model file to write (.npz).", metavar="NEW")],
    trust_pickle: TrustPickle = False,
    force: Force = False,
) -> None:
    """Write a newsseg 0.x model file as a model file of arrays that labels alike, to the bit,
    with its metadata (and a note of the conversion). Reading the old file needs skops
    (pip install 'newsseg[skops]') and the scikit-learn minor version that wrote it; the new
    file needs neither."""
    from newsseg import model_file

    model_file.convert(source, target, force=force, trust_pickle=trust_pickle)
    typer.echo(f"wrote {target} and {model_file.metadata_path(target).name}")


class Order(str, Enum):
    uncertain = "uncertain"
    input = "input"


@app.command(cls=HelpCommand, short_help="Correct a model's labels in the browser, retraining.")
@reports_errors
def annotate(
    paths: Paths,
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir", "-o", help="Save one labeled dump per document here.", metavar="DIR"
        ),
    ],
    model: ModelOption = None,
    base: Annotated[
        list[str] | None,
        typer.Option(
            "--base",
            help="Labeled data to retrain with, beside the saved documents.",
            metavar="PATH",
        ),
    ] = None,
    order: Annotated[
        Order,
        typer.Option(
            "--order",
            help="The least certain documents first, or as given.",
            metavar="uncertain|input",
        ),
    ] = Order.uncertain,
    retrain_every: Annotated[
        int,
        typer.Option(
            "--retrain-every",
            min=0,
            help="Retrain after this many saved documents (0: on demand).",
            metavar="N",
        ),
    ] = RETRAIN_EVERY,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to listen on; others than 127.0.0.1 warn.", metavar="ADDRESS"
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, help="Port (0: any free port).", metavar="PORT")
    ] = 0,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the page's address, do not open it.")
    ] = False,
    trust_pickle: TrustPickle = False,
    encoding: Encoding = "utf-8",
) -> None:
    """Correct a model's labels of dumps in the browser; retrain on them as you go."""
    from newsseg.annotate import annotate as run_annotation

    run_annotation(
        paths,
        output_dir,
        model,
        base=base or (),
        order=order.value,
        retrain_every=retrain_every,
        host=host,
        port=port,
        open_browser=not no_browser,
        trust_pickle=trust_pickle,
        encoding=encoding,
        echo=lambda line: typer.echo(line, err=True),
    )


def _label_set(labels: str) -> list[str]:
    return [label.strip() for label in labels.split(",") if label.strip()]


def main() -> None:
    """Entry point of the ``newsseg`` console script."""
    app()
