"""The ``derive`` command line: a thin click shell over the library.

Every command parses its options, makes one library call and prints that result's ``render()``.
The options several commands share (``--spec/--shared/--prelu``, ``--seed``, ``--data``,
``--cache``, ``--json``) are declared once, as decorators. Each command imports what it needs
inside its body, so light commands stay light (``count-params`` never imports NumPy or SymPy).
Bad input raises DeriveError, which becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import contextlib
import functools
import math
import signal
import sys

import click

from derive import errors
from derive.errors import DeriveError
from derive.version import __version__

PRELU_CHOICES = ("scalar", "channel", "element")
MAX_STEPS = 10**6  # days of training on this engine: more is a typing slip, not a run to wait for


class Finite(click.FloatRange):
    """A float range that also refuses NaN and the infinities (which compare false with every bound)."""

    def convert(self, value, param, ctx):
        """The number, or a usage error when it is not finite or out of range."""
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{errors.quote(value)} is not a finite number", param, ctx)
        return number


class DeriveGroup(click.Group):
    """A click group that turns usage errors and DeriveError into one line on stderr and exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run the command; bad input exits with status 2 and one line per problem, no traceback."""
        raw = sys.argv[1:] if args is None else list(args)
        _tune(raw)
        with _signals_stop() as stopped:
            code = self._run(raw, prog_name, complete_var, stopped, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, raw, prog_name, complete_var, stopped, **extra) -> int:
        try:
            rv = super().main(raw, prog_name or "derive", complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _fail([exc.format_message() + hint], 2)
        except DeriveError as exc:
            _fail(exc.problems, 2)
        except click.ClickException as exc:
            _fail([exc.format_message()], exc.exit_code)
        except click.Abort:
            if stopped:  # SIGTERM or SIGHUP: the same clean stop as Ctrl-C, with the signal's exit status
                _fail([f"interrupted ({signal.Signals(stopped[0]).name})"], 128 + stopped[0])
            _fail(["interrupted"], 130)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(1)
        except OSError as exc:  # a path the system refuses (name too long, I/O error): still one line
            where = f"{errors.printable(exc.filename)}: " if exc.filename is not None else ""
            _fail([f"{where}{exc.strerror or exc}"], 2)
        except MemoryError:  # what no estimate foresaw: still one line, and no traceback
            _fail(["out of memory: this machine cannot hold the arrays this spec needs; make its layers smaller"], 2)
        return rv if isinstance(rv, int) else 0


def _tune(args) -> None:
    """BLAS kernels and memory settings, before any option is parsed (parsing --data loads NumPy).

    ``derive bench`` asks for the CPU's own kernels even over OPENBLAS_CORETYPE, unless told
    ``--blas-kernels environment``; the other commands keep what the environment sets.
    """
    from derive.runtime import tuning

    bench = bool(args) and args[0] == "bench"
    tuning.for_speed(override=bench and "environment" not in args)


@contextlib.contextmanager
def _signals_stop():
    """SIGTERM and SIGHUP stop a command as Ctrl-C does (KeyboardInterrupt), so that every clean-up runs.

    Yields the list that receives the signal's number; further signals are ignored while cleaning up.
    The handlers are those of the command only: the previous ones come back when it ends.
    """
    received, saved = [], {}

    def stop(signum, frame):
        if not received:
            received.append(signum)
            raise KeyboardInterrupt

    try:
        for name in ("SIGTERM", "SIGHUP"):
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) == signal.SIG_DFL:  # nohup's SIG_IGN stays
                saved[number] = signal.signal(number, stop)
    except ValueError:  # not the main thread: signals are not ours to handle
        pass
    try:
        yield received
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def _fail(lines, code: int):
    for line in errors.lines(lines):
        click.echo(f"derive: error: {line}", err=True)
    sys.exit(code)


def spec_options(func):
    """--spec FILE, --shared/--unshared and --prelu CONVENTION, handed to the command as one ``net``."""

    @functools.wraps(func)
    def command(*args, spec_path=None, shared=None, prelu=None, **kwargs):
        return func(*args, net=load_spec(spec_path, shared, prelu), **kwargs)

    command = click.option("--prelu", type=click.Choice(PRELU_CHOICES),
                           help="PReLU slopes per layer, per channel/unit or per element (overrides the spec).")(
        command)
    command = click.option("--shared/--unshared", "shared", default=None,
                           help="One set of weights for both branches, or separate L and L' (overrides the spec).")(
        command)
    return click.option("--spec", "spec_path", metavar="FILE",
                        help="Architecture spec (TOML). Default: the reconstruction of the exam's figure.")(command)


def seed_option(func):
    """--seed N: the seed of every random draw."""
    return click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                        help="Seed of every draw.")(func)


def _parse_data(ctx, param, value):
    from derive.engine.data import parse_data

    return parse_data(value)


def data_option(help_text: str):
    """--data shapeset|cifar10:PATH, parsed by the one data parser (the same message for the same mistake)."""
    return click.option("--data", "data", default="shapeset", show_default=True, metavar="shapeset|cifar10:PATH",
                        callback=_parse_data, help=help_text)


def json_option(func):
    """--json: the result as JSON (stable keys) instead of text."""
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (stable keys).")(func)


def cache_option(func):
    """--cache DIR: the store of experiment and certificate results."""
    return click.option("--cache", "cache_dir", default=".derive-cache", show_default=True, metavar="DIR",
                        help="Where experiment and certificate results are kept (keyed by spec, seed and code).")(func)


def pdf_engine_option(func):
    """--pdf-engine typst|latex: how the PDFs are made."""
    return click.option("--pdf-engine", "engine", type=click.Choice(("typst", "latex")), default="typst",
                        show_default=True,
                        help="typst (bundled, no system package) or latex (latexmk and TeX Live).")(func)


def load_spec(spec_path, shared=None, prelu=None):
    """Load the spec named on the command line and apply the overriding flags."""
    from derive import spec

    return spec.load(spec_path).with_options(shared=shared, prelu=prelu)


def _fmt(as_json: bool) -> str:
    return "json" if as_json else "text"


@click.group(cls=DeriveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="derive")
def cli():
    """Verified correction sheet for the December 2019 deep-learning exam.

    Every gradient is derived by SymPy in the exam's notation and certified on real
    tensors; every number follows from an architecture spec (TOML) whose default is a
    reconstruction of the exam's missing figure (see 'derive spec').

    \b
    Example:
        derive count-params --format markdown
    """


@cli.command("spec")
@click.argument("file", required=False, metavar="[FILE]")
@click.option("--spec", "spec_path", metavar="FILE",
              help="The spec to check, as with the other commands (same as FILE).")
def spec_command(file, spec_path):
    """Print the default spec, or validate FILE and print its layer shapes.

    \b
    Examples:
        derive spec > my-network.toml     # start from the default and edit it
        derive spec my-network.toml       # check a spec: shapes, or one line per problem
    """
    from derive import spec

    if file is not None and spec_path is not None and file != spec_path:
        raise DeriveError(f"two specs given ({file} and {spec_path}): give one")
    file = file if file is not None else spec_path
    click.echo(spec.default_spec_text() if file is None else spec.load(file).render(), nl=False)


@cli.command("count-params")
@spec_options
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "latex", "json")), default="text",
              show_default=True, help="Output format; json keys are a stable interface.")
def count_params(net, fmt):
    """Count the parameters of the two-branch network (Exercise 1, Q3).

    Per layer: output shape, weights, biases, PReLU slopes, mult-adds and the formula
    with its numbers, e.g. (3·3·3 + 1)·32 = 896. The footer gives one branch, both
    branches, and the total under every weight-sharing and PReLU convention.

    \b
    Examples:
        derive count-params
        derive count-params --shared --prelu scalar --format json
        derive count-params --spec my-network.toml --format latex
    """
    from derive import count

    click.echo(count.report(net).render(fmt), nl=False)


@cli.command("gradients")
@spec_options
@click.option("--layer", default="all", show_default=True, metavar="L6|L5|prelu|kl|all",
              help="What to derive: the upper (L6) or lower (L5) dense layer (the spec's own names work too), "
                   "the PReLU slopes, the KL term of Q7, or all of them.")
@click.option("--format", "fmt", type=click.Choice(("text", "latex", "markdown", "json")), default="text",
              show_default=True, help="Output format; json keys are a stable interface.")
def gradients_command(net, layer, fmt):
    """Derive the gradients of Exercise 1 (Q1, Q2, Q7) step by step, in the exam's notation.

    SymPy differentiates the network's top (the last two dense layers) and the loss: each
    local derivative is a named step, the chain rule is shown as a product of them, then the
    simplified result in index form and its value in each case of the hinge (l = 0; l = 1 with
    D < 1; l = 1 with D >= 1). 'derive check' evaluates these same formulas on real tensors.

    \b
    Examples:
        derive gradients --layer L6
        derive gradients --layer L5 --shared --format latex
        derive gradients --layer kl --format json
    """
    from derive.symbolic import report

    click.echo(report.gradients(net, layer).render(fmt), nl=False)


@cli.command("check")
@spec_options
@data_option("Images the network is run on.")
@seed_option
@click.option("--steps", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="SGD steps replayed with the printed gradients.")
@click.option("--no-torch", is_flag=True, help="Skip the comparison with PyTorch's autograd.")
@json_option
def check_command(net, data, seed, steps, no_torch, as_json):
    """Certify every formula 'derive gradients' prints, on real tensors; exit 1 if any check fails.

    Every weight, bias and PReLU slope of the two top layers of both branches is compared with
    finite differences of the full loss (exhaustively: central ones, and where the step crosses a
    ReLU/PReLU or hinge kink a one-sided one on the side that does not, or a smaller step), with
    the network's backprop and with PyTorch's autograd; every definition, step, chain rule and hinge case is evaluated;
    SGD steps driven by the printed gradients must follow backprop's; the KL term is checked in
    both readings.

    \b
    Examples:
        derive check
        derive check --shared --json
        derive check --spec my-network.toml --seed 3
    """
    from derive.certify import certificate

    progress = (lambda phase: click.echo(f"checking: {phase} ...", err=True)) if sys.stderr.isatty() else None
    report = certificate.run(net, data.label(), seed, steps=steps, use_torch=not no_torch, progress=progress)
    click.echo(report.render(_fmt(as_json)), nl=False)
    return 0 if report.ok else 1


@cli.command("bench-check")
@spec_options
@seed_option
@json_option
def bench_check_command(net, seed, as_json):
    """Time the certificate: exhaustive finite differences per coordinate vs torch's gradcheck.

    Times the finite differences of every weight and bias of the two top layers of both
    branches (about 2.1 million coordinates for the default spec; target: 5 s), and
    torch.autograd.gradcheck on the same loss for a slice of those weights, per element, in the
    same run; prints the ratio. Also times 'derive gradients' from a cold start (target: 2 s).

    \b
    Examples:
        derive bench-check
        derive bench-check --json
    """
    from derive.certify import bench

    click.echo(bench.run(net, seed=seed).render(_fmt(as_json)), nl=False)


@cli.command("experiments")
@spec_options
@click.option("--only", "names", multiple=True, metavar="NAME",
              help="Run only this experiment (repeatable): branches, loss, dropout, sparsity, convolution, "
                   "vanishing, glorot, alexnet.")
@click.option("--quick", is_flag=True, help="Small sizes (seconds), as the tests use.")
@data_option("Images: the Shapeset generator, or CIFAR-10 python batches in PATH.")
@seed_option
@cache_option
@click.option("--force", is_flag=True, help="Recompute even when a cached result exists.")
@json_option
def experiments_command(net, names, quick, data, seed, cache_dir, force, as_json):
    """Rerun the experiments behind the conceptual answers; write numbers (JSON) and figures (PNG).

    Results are cached by experiment, spec content, data, seed, size and code version, so a
    second run (and the correction sheet) reuses them. Timings go to stderr.

    \b
    Examples:
        derive experiments --quick
        derive experiments --only glorot --only vanishing --seed 1
        derive experiments --data cifar10:~/cifar-10-batches-py --json
    """
    from derive import experiments
    from derive.runtime import workers

    for name in names:
        experiments.describe(name)  # reject unknown names before running anything

    def bar(label, total):
        return click.progressbar(length=total, label=label, file=sys.stderr)

    def done(result, seconds):
        click.echo(f"{result.name}: {seconds:.1f} s ({'cached' if result.cached else 'computed'})", err=True)

    results = experiments.run_all(names or None, spec=net, seed=seed, quick=quick, data=data, cache_dir=cache_dir,
                                  progress=bar, force=force, workers=workers.default_count(), done=done)
    click.echo(results.render(_fmt(as_json)), nl=False)


@cli.command("sheet")
@spec_options
@click.option("--lang", type=click.Choice(("fr", "en")), default="fr", show_default=True, help="Language of the sheet.")
@click.option("--format", "fmt", default="md,tex,pdf", show_default=True, metavar="LIST",
              help="Comma-separated formats among md, tex, typ, pdf.")
@click.option("--edition", "editions", default="student,teacher", show_default=True, metavar="LIST",
              help="student (the answers only), teacher (also the marking scheme, the register and the "
                   "verification appendix), or both.")
@pdf_engine_option
@click.option("--out", "out", default="build", show_default=True, metavar="DIR", help="Output folder.")
@cache_option
@click.option("--evidence", "evidence", metavar="DIR",
              help="Also copy the results the sheet used into DIR, laid out as a cache (make docs keeps them).")
def sheet_command(net, lang, fmt, editions, engine, out, cache_dir, evidence):
    """Write the correction sheet into DIR: corrige.<lang>.* (student), corrige-teacher.<lang>.*, claims.json.

    Every answer is computed and every claim checked while the sheet is built; files are
    moved into DIR only when every requested format has been produced.

    \b
    Examples:
        derive sheet                                  # French, both editions: Markdown, LaTeX, PDF in build/
        derive sheet --lang en --edition student --format pdf
        derive sheet --pdf-engine latex --format pdf
    """
    from derive.sheet import build

    formats = build.parse_formats(fmt)
    chosen = build.parse_editions(editions)
    build.check_request(lang, engine, out, cache_dir, evidence, formats, chosen, net)  # before the progress bar
    with click.progressbar(length=build.steps(formats, chosen, engine), label=f"corrige.{lang}", file=sys.stderr,
                           item_show_func=lambda s: s, show_eta=False) as bar:
        try:
            written = build.build(net, lang, formats, engine, out, progress=lambda label: bar.update(1, label),
                                  cache_dir=cache_dir, evidence=evidence, editions=chosen)
        except build.BuildFailed as exc:
            click.echo(f"derive: sheet not written: {'; '.join(errors.lines([str(exc)]))}", err=True)
            return 1
    click.echo(written.render(), nl=False)


def _dropout_option(ctx, param, values):
    """Parse repeated LAYER=RATE into a dict."""
    rates = {}
    for text in values:
        name, sep, rate = text.partition("=")
        try:
            rates[name.strip()] = float(rate)
        except ValueError:
            sep = ""
        if sep and not math.isfinite(rates[name.strip()]):
            raise click.BadParameter(f"the rate of {errors.quote(name.strip())} is not a finite number", ctx, param)
        if not sep or not name.strip():
            raise click.BadParameter(f"expected LAYER=RATE (e.g. L5=0.5), got {errors.quote(text)}", ctx, param)
    return rates


@cli.command("train")
@spec_options
@data_option("Images: the Shapeset generator, or CIFAR-10 python batches in PATH (test_batch held out).")
@click.option("--images", type=click.IntRange(min=2), default=5000, show_default=True,
              help="Training images (generated, or drawn from CIFAR-10's training batches).")
@click.option("--steps", type=click.IntRange(1, MAX_STEPS), default=300, show_default=True,
              help=f"Training steps (at most {MAX_STEPS:,}).")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True, help="Pairs per step.")
@click.option("--lr", type=Finite(min=0, min_open=True), default=0.01, show_default=True,
              help="Learning rate ε.")
@click.option("--optimizer", "opt_name", type=click.Choice(("sgd", "alexnet")), default="sgd", show_default=True,
              help="Plain SGD, or AlexNet's momentum with weight decay (the exam's Figure 2).")
@click.option("--momentum", type=Finite(0, 1), default=0.9, show_default=True, help="AlexNet: μ.")
@click.option("--weight-decay", type=Finite(min=0), default=0.0005, show_default=True, help="AlexNet: λ.")
@click.option("--decay", type=click.Choice(("weights", "all")), default="weights", show_default=True,
              help="AlexNet: decay the weights W only, or biases and PReLU slopes too.")
@click.option("--init", type=click.Choice(("default", "glorot_standard", "glorot_normalized", "he")),
              default="glorot_normalized", show_default=True, help="Initialisation of the weights.")
@click.option("--dropout", multiple=True, callback=_dropout_option, metavar="LAYER=RATE",
              help="Dropout on a layer of both branches (repeatable), e.g. --dropout L5=0.5.")
@click.option("--same-share", type=Finite(0, 1), default=0.5, show_default=True,
              help="Share of same-label pairs (l = 0) in each batch.")
@seed_option
@click.option("--standardise/--raw", default=True, show_default=True,
              help="Centre and scale each channel by the training images' mean and deviation, or not.")
@click.option("--threads", type=click.IntRange(1, 2), default=2, show_default=True,
              help="Run the two branches in parallel threads (2) or one after the other (1).")
@click.option("--log", "log_path", metavar="FILE", help="Write the summary and the loss of every step (JSON).")
def train_command(net, data, images, steps, batch, lr, opt_name, momentum, weight_decay, decay, init, dropout,
                  same_share, seed, standardise, threads, log_path):
    """Train the two-branch network on pairs and report verification on held-out pairs.

    Prints the loss at the start and the end (means over a tenth of the steps) and the
    accuracy of "same label iff D < threshold" on held-out pairs, the threshold being fitted
    on training pairs.

    \b
    Examples:
        derive train --steps 300
        derive train --optimizer alexnet --lr 0.002 --dropout L5=0.5 --log train.json
        derive train --data cifar10:~/cifar-10-batches-py --shared --steps 2000
    """
    from derive.engine import train

    train.check(net, data, images, batch, log_path)  # before the progress bar and the training
    with click.progressbar(length=steps, label="training", file=sys.stderr, hidden=not sys.stderr.isatty(),
                           item_show_func=lambda e: e and f"loss {e['loss']:.4f}") as bar:
        run = train.session(net, data, images=images, steps=steps, batch=batch, lr=lr, optimizer_name=opt_name,
                            momentum=momentum, weight_decay=weight_decay, decay=decay, init=init, dropout=dropout,
                            same_share=same_share, standardise=standardise, seed=seed, threads=threads,
                            log=log_path, callback=lambda entry: bar.update(1, entry))
    click.echo(run.render(), nl=False)


@cli.command("bench")
@spec_options
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True, help="Pairs per step.")
@click.option("--repeats", type=click.IntRange(min=1), default=20, show_default=True,
              help="Timed steps per engine and thread setting (alternating); the best is compared.")
@click.option("--threads", type=click.IntRange(1, 64), multiple=True, default=(2, 1), show_default=True,
              help="Threads for each engine, at most 64 (repeatable: each setting is measured in the same run).")
@click.option("--no-torch", is_flag=True, help="Time this engine only.")
@click.option("--profile", is_flag=True,
              help="Instead: the time of every layer, forward and backward, in both engines (one thread each).")
@click.option("--blas-kernels", type=click.Choice(("cpu", "environment")), default="cpu", show_default=True,
              help="OpenBLAS kernels for the CPU's instruction set (AVX-512 where it has it, as PyTorch uses), "
                   "or whatever OPENBLAS_CORETYPE in the environment asks for.")
@json_option
def bench_command(net, batch, repeats, threads, no_torch, profile, blas_kernels, as_json):
    """Time one training step (both branches, float32) of this engine against PyTorch on the CPU.

    Both engines run in the same process, in alternation, on the same network and inputs, with 2
    threads each and then 1; PyTorch in its default and its channels-last memory formats. Printed
    per setting: each engine's best and median step and their spread, the ratio of this engine's
    best step to PyTorch's (against the faster format, and against each), the FLOP rate of the
    step's products beside a float32 matrix-product peak measured in the same run; then the
    process's peak memory after this engine's steps (before PyTorch is loaded).
    --profile prints where the time goes instead: every layer, forward and backward, this
    engine's time in matrix products against the rest, and PyTorch's layers.

    \b
    Examples:
        derive bench
        derive bench --threads 1 --json
        derive bench --profile
    """
    from derive.engine import bench
    from derive.runtime import tuning

    if profile:
        from derive.engine import profile as profiler

        report = profiler.run(net, batch=batch, repeats=repeats, use_torch=not no_torch)
        click.echo(report.render(_fmt(as_json)), nl=False)
        return
    timing = bench.run(net, batch=batch, repeats=repeats, threads=threads, use_torch=not no_torch,
                       keep_freed_memory=tuning.keep_freed_memory())
    click.echo(timing.render(_fmt(as_json)), nl=False)


@cli.command("grade")
@click.argument("answers", metavar="ANSWERS")
@spec_options
@click.option("--lang", type=click.Choice(("fr", "en")), default="fr", show_default=True,
              help="Language of the feedback.")
@click.option("--format", "fmt", type=click.Choice(("text", "json", "csv")), default="text", show_default=True,
              help="Output format; json and csv keys are a stable interface.")
@click.option("--out", "out", metavar="DIR", help="Also write one feedback page per student and the grades table.")
@click.option("--time-box", "time_box", type=Finite(0.01, 3600), default=5.0, show_default=True,
              metavar="SECONDS", help="Time allowed for each answer; one that needs longer is 'undecided'.")
@seed_option
def grade_command(answers, net, lang, fmt, out, time_box, seed):
    """Grade students' answers to Q1, Q2, Q3 and Q7 against the certified results.

    ANSWERS is a UTF-8 CSV with the header student,question,answer[,case] (or the same
    rows as JSON lines); question is ex1.q1, ex1.q2, ex1.q3 or ex1.q7, case is empty,
    same, inside or outside. Each formula is evaluated on the certificate's tensors and
    compared with the certified gradient; a wrong one is matched with the catalogue of
    classic mistakes. Verdicts: correct, incorrect, undecided, invalid.

    \b
    Examples:
        derive grade copies.csv
        derive grade copies.csv --lang en --format json
        derive grade copies.csv --shared --out feedback/
    """
    from derive.grade import report

    bar = click.progressbar(length=1, label="grading", file=sys.stderr, hidden=not sys.stderr.isatty())
    with bar:
        grades = report.grade(answers, net, lang=lang, seed=seed, time_box=time_box, out=out,
                              progress=lambda answer: bar.update(1))
    click.echo(grades.render(fmt), nl=False)


@cli.command("exam")
@spec_options
@click.option("--lang", type=click.Choice(("fr", "en")), default="fr", show_default=True, help="Language of the paper.")
@click.option(
    "--format",
    "fmt",
    default="md,pdf",
    show_default=True,
    metavar="LIST",
    help="Comma-separated formats among md, tex, typ, pdf.",
)
@pdf_engine_option
@click.option("--out", "out", default="exam", show_default=True, metavar="DIR", help="Output folder.")
@cache_option
def exam_command(net, lang, fmt, engine, out, cache_dir):
    """Write the exam paper into DIR: exam.<lang>.* with the network's figure drawn from the spec.

    Both exercises in this project's words, with their points. For the default spec it is the
    2019 exam with its lost figure redrawn (and said to be a reconstruction); Exercise 2 Q5's
    figure is the "glorot" experiment's (read from the store, or computed in seconds).

    \b
    Examples:
        derive exam                       # French, Markdown and PDF in exam/
        derive exam --lang en --spec my-network.toml --format pdf
    """
    from derive.sheet import build
    from derive.variants import exam

    written = exam.build(net, lang, build.parse_formats(fmt), engine, out, cache_dir)
    click.echo(written.render(), nl=False)


@cli.command("variants")
@click.option("--count", type=click.IntRange(1, 9999), required=True, help="How many variants the batch has.")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="The batch's seed: variant k of seed S is always the same network.",
)
@click.option(
    "--family",
    "family_path",
    metavar="FILE",
    help="A family TOML file (ranges of layers, kernels, filters, strides, widths...); default: "
    "the documented family around the exam's network.",
)
@click.option(
    "--only",
    metavar="LIST",
    help="Build only these variants, e.g. 3 or 1-10,15 (the others' numbers "
    "do not change: batches split across machines by ranges).",
)
@click.option("--lang", "langs", default="fr", show_default=True, metavar="LIST", help="fr, en or both (fr,en).")
@click.option(
    "--edition",
    "editions",
    default="student,teacher",
    show_default=True,
    metavar="LIST",
    help="The corrigé's editions: student, teacher or both.",
)
@click.option(
    "--format",
    "fmt",
    default="md,pdf",
    show_default=True,
    metavar="LIST",
    help="Formats of the papers and corrigés, among md, tex, typ, pdf.",
)
@pdf_engine_option
@click.option("--out", "out", default="variants", show_default=True, metavar="DIR", help="Output folder.")
@click.option("--moodle", "moodle", metavar="FILE", help="Also write a Moodle XML quiz: one category per variant.")
@cache_option
def variants_command(count, seed, family_path, only, langs, editions, fmt, engine, out, moodle, cache_dir):
    """Draw exam variants from a family and write each one's spec, paper and certified corrigé.

    DIR gets variant-XX/ (spec.toml, exam.<lang>.*, corrige*.<lang>.*, claims.json, figures/),
    key.csv (the numbers a grader needs) and variants.json. Each corrigé has its own
    derivations, counts and certificate; its conceptual answers quote the reference network's
    experiments, and say so. The same seed gives the same bytes.

    \b
    Examples:
        derive variants --count 20 --seed 2026
        derive variants --count 200 --seed 2026 --only 1-50 --out part1   # one machine's share
        derive variants --count 20 --seed 2026 --lang en --moodle quiz.xml
    """
    from derive.sheet import build
    from derive.variants import batch, family

    chosen = family.load(family_path)
    request = batch.Request(_languages(langs), build.parse_editions(editions), build.parse_formats(fmt), engine)
    # a bad range, too small a family or a bad --moodle is refused before any work and before the progress bar
    planned = batch.check(chosen, seed, count, out, request, only, cache_dir, moodle)
    bar = click.progressbar(
        length=len(planned) + 9,
        label="variants",
        file=sys.stderr,
        item_show_func=lambda s: s,
        show_eta=False,
    )
    with bar:
        written = batch.build(
            chosen,
            seed,
            count,
            out,
            request,
            only,
            cache_dir,
            moodle=moodle,
            progress=lambda label: bar.update(1, label),
        )
    click.echo("".join(f"{p}\n" for p in written if p.suffix in (".csv", ".json", ".xml")), nl=False)


def _languages(text: str) -> tuple[str, ...]:
    asked = [x.strip().lower() for x in text.split(",") if x.strip()]
    bad = [x for x in asked if x not in ("fr", "en")]
    if bad or not asked:
        raise DeriveError(f"unknown language '{','.join(bad) or text}' (expected fr, en or fr,en)")
    return tuple(x for x in ("fr", "en") if x in asked)


def main():
    """Console-script entry point."""
    cli(prog_name="derive")
