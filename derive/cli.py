"""The ``derive`` command line: a thin click shell over the library.

Each command imports what it needs inside its body, so light commands stay light
(``count-params`` never imports NumPy or SymPy). Bad input raises DeriveError, which
becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys

import click

from derive import __version__
from derive.errors import DeriveError

PRELU_CHOICES = ("scalar", "channel", "element")


class DeriveGroup(click.Group):
    """A click group that turns usage errors and DeriveError into one line on stderr and exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run the command; bad input exits with status 2 and one line per problem, no traceback."""
        try:
            rv = super().main(args, prog_name or "derive", complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _fail([exc.format_message() + hint], 2)
        except DeriveError as exc:
            _fail(exc.problems, 2)
        except click.ClickException as exc:
            _fail([exc.format_message()], exc.exit_code)
        except click.Abort:
            _fail(["interrupted"], 130)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(1)
        code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _fail(lines, code: int):
    for line in lines:
        click.echo(f"derive: error: {line}", err=True)
    sys.exit(code)


def spec_options(func):
    """The options that choose a network: --spec FILE, --shared/--unshared, --prelu CONVENTION."""
    func = click.option("--prelu", type=click.Choice(PRELU_CHOICES),
                        help="PReLU slopes per layer, per channel/unit or per element (overrides the spec).")(func)
    func = click.option("--shared/--unshared", "shared", default=None,
                        help="One set of weights for both branches, or separate L and L' (overrides the spec).")(func)
    func = click.option("--spec", "spec_path", metavar="FILE",
                        help="Architecture spec (TOML). Default: the reconstruction of the exam's figure.")(func)
    return func


def load_spec(spec_path, shared=None, prelu=None):
    """Load the spec named on the command line and apply the overriding flags."""
    from derive import spec

    return spec.load(spec_path).with_options(shared=shared, prelu=prelu)


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
@click.option("--spec", "spec_path", metavar="FILE", help="The spec to check, as with the other commands (same as FILE).")
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
    if file is None:
        click.echo(spec.default_spec_text(), nl=False)
        return
    net = spec.load(file)
    h, w, c = net.input
    click.echo(f"{file}: valid, input {h}x{w}x{c}, {len(net.layers)} layers")
    for layer, shape in zip(net.layers, net.shapes()):
        click.echo(f"  {layer.name:<8} {layer.type:<8} {layer.activation:<8} -> {'x'.join(map(str, shape))}")


@cli.command("count-params")
@spec_options
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "latex", "json")), default="text",
              show_default=True, help="Output format; json keys are a stable interface.")
def count_params(spec_path, shared, prelu, fmt):
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
    from derive import params

    net = load_spec(spec_path, shared, prelu)
    click.echo(params.render(params.report(net), fmt), nl=False)


@cli.command("experiments")
@spec_options
@click.option("--only", "names", multiple=True, metavar="NAME",
              help="Run only this experiment (repeatable): branches, loss, dropout, sparsity, convolution, "
                   "vanishing, glorot, alexnet.")
@click.option("--quick", is_flag=True, help="Small sizes (seconds), as the tests use.")
@click.option("--data", "data", default="shapeset", show_default=True, metavar="shapeset|cifar10:PATH",
              help="Images: the Shapeset generator, or CIFAR-10 python batches in PATH.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of every draw.")
@click.option("--out", "out", metavar="DIR", help="Cache directory  [default: .derive-cache/experiments]")
@click.option("--force", is_flag=True, help="Recompute even when a cached result exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (conclusions and file paths).")
def experiments_command(spec_path, shared, prelu, names, quick, data, seed, out, force, as_json):
    """Rerun the experiments behind the conceptual answers; write numbers (JSON) and figures (PNG).

    Results are cached by experiment, spec content, data, seed, size and code version, so a
    second run (and the correction sheet) reuses them. Timings go to stderr.

    \b
    Examples:
        derive experiments --quick
        derive experiments --only glorot --only vanishing --seed 1
        derive experiments --data cifar10:~/cifar-10-batches-py --json
    """
    import json
    import sys

    from derive import tuning

    tuning.for_speed()  # before NumPy loads, as train does; the workers run this process's BLAS kernels
    from derive import experiments, workers

    net = load_spec(spec_path, shared, prelu)
    for name in names:
        experiments.describe(name)  # reject unknown names before running anything

    def bar(label, total):
        return click.progressbar(length=total, label=label, file=sys.stderr)

    def done(result, seconds):
        click.echo(f"{result.name}: {seconds:.1f} s ({'cached' if result.cached else 'computed'})", err=True)

    results = experiments.run_all(names or None, spec=net, seed=seed, quick=quick, data=data, cache_dir=out,
                                  progress=bar, force=force, workers=workers.default_count(), done=done)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2, sort_keys=True))
        return
    for r in results:
        click.echo(f"{r.name} ({r.question}): {r.summary()}")
        click.echo(f"  numbers: {r.directory / 'result.json'}")
        for path in r.figures:
            click.echo(f"  figure:  {path}")


@cli.command("sheet")
@spec_options
@click.option("--lang", type=click.Choice(("fr", "en")), default="fr", show_default=True, help="Language of the sheet.")
@click.option("--format", "fmt", default="md,tex,pdf", show_default=True, metavar="LIST",
              help="Comma-separated formats among md, tex, typ, pdf.")
@click.option("--pdf-engine", "engine", type=click.Choice(("typst", "latex")), default="typst", show_default=True,
              help="typst (bundled, no system package) or latex (latexmk and TeX Live).")
@click.option("--out", "out", default="build", show_default=True, metavar="DIR", help="Output folder.")
@click.option("--cache", "cache_dir", default=".derive-cache", show_default=True, metavar="DIR",
              help="Where experiment and certificate results are kept (keyed by spec, seed and code).")
@click.option("--evidence", "evidence", metavar="DIR",
              help="Also copy the results the sheet used into DIR, laid out as a cache (make docs keeps them).")
def sheet_command(spec_path, shared, prelu, lang, fmt, engine, out, cache_dir, evidence):
    """Write the correction sheet: corrige.<lang>.md/.tex/.pdf and figures/ into DIR.

    Every answer is computed and checked while the sheet is built; files are moved
    into DIR only when every requested format has been produced.

    \b
    Examples:
        derive sheet                                  # French: Markdown, LaTeX, PDF (typst) in build/
        derive sheet --lang en --format md --out docs
        derive sheet --pdf-engine latex --format pdf
    """
    from derive import tuning

    tuning.for_speed()  # before NumPy loads, as train does; the workers run this process's BLAS kernels
    from derive import sheet

    formats = sheet.parse_formats(fmt)
    net = load_spec(spec_path, shared, prelu)
    sheet.check_request(lang, engine, out, cache_dir, evidence)  # before the progress bar prints its label
    with click.progressbar(length=sheet.steps(formats), label=f"corrige.{lang}", file=sys.stderr,
                           item_show_func=lambda s: s, show_eta=False) as bar:
        try:
            written = sheet.build(net, lang, formats, engine, out, progress=lambda label: bar.update(1, label),
                                  cache_dir=cache_dir, evidence=evidence)
        except sheet.BuildFailed as exc:
            click.echo(f"derive: sheet not written: {exc}", err=True)
            return 1
    for path in written:
        if path.parent.name != "figures":
            click.echo(str(path))


def _dropout_option(ctx, param, values):
    """Parse repeated LAYER=RATE into a dict."""
    rates = {}
    for text in values:
        name, sep, rate = text.partition("=")
        try:
            rates[name.strip()] = float(rate)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise click.BadParameter(f"expected LAYER=RATE (e.g. L5=0.5), got '{text}'", ctx, param)
    return rates


@cli.command("train")
@spec_options
@click.option("--data", "data_source", default="shapeset", show_default=True, metavar="shapeset|cifar10:PATH",
              help="Images: the Shapeset generator, or CIFAR-10 python batches in PATH (test_batch held out).")
@click.option("--images", type=click.IntRange(min=2), default=5000, show_default=True,
              help="Training images (generated, or drawn from CIFAR-10's training batches).")
@click.option("--steps", type=click.IntRange(min=1), default=300, show_default=True, help="Training steps.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True, help="Pairs per step.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.01, show_default=True,
              help="Learning rate ε.")
@click.option("--optimizer", "opt_name", type=click.Choice(("sgd", "alexnet")), default="sgd", show_default=True,
              help="Plain SGD, or AlexNet's momentum with weight decay (the exam's Figure 2).")
@click.option("--momentum", type=click.FloatRange(0, 1), default=0.9, show_default=True, help="AlexNet: μ.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0005, show_default=True, help="AlexNet: λ.")
@click.option("--decay", type=click.Choice(("weights", "all")), default="weights", show_default=True,
              help="AlexNet: decay the weights W only, or biases and PReLU slopes too.")
@click.option("--init", type=click.Choice(("default", "glorot_standard", "glorot_normalized", "he")),
              default="glorot_normalized", show_default=True, help="Initialisation of the weights.")
@click.option("--dropout", multiple=True, callback=_dropout_option, metavar="LAYER=RATE",
              help="Dropout on a layer of both branches (repeatable), e.g. --dropout L5=0.5.")
@click.option("--same-share", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of same-label pairs (l = 0) in each batch.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of every draw.")
@click.option("--standardise/--raw", default=True, show_default=True,
              help="Centre and scale each channel by the training images' mean and deviation, or not.")
@click.option("--threads", type=click.IntRange(1, 2), default=2, show_default=True,
              help="Run the two branches in parallel threads (2) or one after the other (1).")
@click.option("--log", "log_path", metavar="FILE", help="Write the summary and the loss of every step (JSON).")
def train_command(spec_path, shared, prelu, data_source, images, steps, batch, lr, opt_name, momentum, weight_decay,
                  decay, init, dropout, same_share, standardise, seed, threads, log_path):
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
    import os

    from derive import tuning

    tuning.for_speed()  # before NumPy loads
    import numpy as np

    from derive import network, train
    from derive.data import labelled_images, parse_data

    if log_path and not os.path.isdir(os.path.dirname(os.path.abspath(log_path))):
        raise DeriveError(f"{log_path}: cannot write the log (no such directory)")
    if log_path and os.path.isdir(log_path):
        raise DeriveError(f"{log_path}: cannot write the log (it is a folder)")
    net_spec = load_spec(spec_path, shared, prelu)
    source = parse_data(data_source)
    options = {"momentum": momentum, "weight_decay": weight_decay, "decay": decay} if opt_name == "alexnet" else {}
    opt = train.optimizer(opt_name, lr, **options)
    net = network.Network(net_spec, dtype=np.float32, init=init, seed=seed, dropout=dropout, threads=threads)
    train_set = labelled_images(source, images, seed, "train", net_spec.input)
    test_set = labelled_images(source, min(images, 2000), seed, "test", net_spec.input)
    with click.progressbar(length=steps, label="training", file=sys.stderr, hidden=not sys.stderr.isatty(),
                           item_show_func=lambda e: e and f"loss {e['loss']:.4f}") as bar:
        record = train.fit(net, train_set, test_set, steps=steps, batch=batch, opt=opt, same_share=same_share,
                           seed=seed, standardise=standardise, callback=lambda entry: bar.update(1, entry))
    held = record["held_out"]
    record.update(spec=net_spec.source, shared_weights=net_spec.shared_weights, data=data_source,
                  optimizer=dict(name=opt_name, lr=lr, **options), init=init, dropout=dropout)
    if log_path:
        train.write_json(log_path, record)
    click.echo(f"{steps} steps of {batch} pairs on {data_source}, {opt_name} ε={lr:g}, "
               f"{'tied' if net_spec.shared_weights else 'untied'} branches, seed {seed}")
    click.echo(f"loss: first {record['loss_first']:.4f}, last {record['loss_last']:.4f}")
    click.echo(f"held-out verification ({held['pairs']} pairs, half same-label): accuracy {held['accuracy']:.3f} "
               f"at D < {held['threshold']:.4g} (threshold fitted on training pairs)")
    click.echo(f"mean D: same label {held['mean_D_same']:.4g}, different labels {held['mean_D_different']:.4g}")
    if log_path:
        click.echo(f"log: {log_path}")


@cli.command("bench")
@click.option("--spec", "spec_path", metavar="FILE", help="Architecture spec (TOML). Default: the exam's network.")
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True, help="Pairs per step.")
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True,
              help="Timed steps per engine (alternating); the best is kept.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="Threads for each engine.")
@click.option("--no-torch", is_flag=True, help="Time this engine only.")
@click.option("--blas-kernels", type=click.Choice(("cpu", "environment")), default="cpu", show_default=True,
              help="OpenBLAS kernels for the CPU's instruction set (AVX-512 where it has it, as PyTorch uses), "
                   "or whatever OPENBLAS_CORETYPE in the environment asks for.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON (stable keys).")
def bench_command(spec_path, batch, repeats, threads, no_torch, blas_kernels, as_json):
    """Time one training step (both branches, float32) of this engine against PyTorch on the CPU.

    Both engines run in the same process, in alternation, on the same network and inputs;
    the ratio is this engine's time over PyTorch's. Also printed: the FLOP rate of the step's
    matrix products beside a float32 matrix-product peak measured in the same run, and the
    process's peak memory after this engine's steps (before PyTorch is loaded).

    \b
    Examples:
        derive bench
        derive bench --json --repeats 10
    """
    import json
    import os

    from derive import tuning

    tuned = tuning.for_speed(override=blas_kernels == "cpu")  # before NumPy loads
    from derive import bench

    net_spec = load_spec(spec_path)
    figures, notes = bench.run(net_spec, batch=batch, repeats=repeats, threads=threads, use_torch=not no_torch)
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    click.echo(f"one training step: {batch} pairs, float32, {net_spec.source}, {threads} threads per engine, "
               f"best of {repeats}")
    click.echo(f"numpy's BLAS: {notes['blas']}; freed memory kept for reuse: {tuned['keep_freed_memory']}")
    click.echo(f"numpy:   {figures['numpy_step_ms']:8.1f} ms   {notes['numpy_cpu_ms']:.1f} ms of CPU time, "
               f"{figures['gflops']:.1f} GFLOP/s (matrix-product peak {figures['peak_gflops']:.1f} GFLOP/s)")
    if figures["torch_step_ms"] is None:
        click.echo(f"pytorch: not timed ({notes['torch']})")
    else:
        click.echo(f"pytorch: {figures['torch_step_ms']:8.1f} ms   {notes['torch_cpu_ms']:.1f} ms of CPU time "
                   f"({notes['torch']})")
        click.echo(f"ratio numpy/pytorch: {figures['ratio']:.2f}")
    click.echo(f"peak memory (RSS) after the numpy steps: {figures['peak_rss_mb']:.0f} MB "
               f"({notes['rss_before_mb']:.0f} MB before the first step)")
    before, after = notes["load_average"]
    click.echo(f"load average (1 min) before and after: {before:.2f}, {after:.2f} on {os.cpu_count()} cores")


@cli.command("gradients")
@spec_options
@click.option("--layer", default="all", show_default=True, metavar="L6|L5|prelu|kl|all",
              help="What to derive: the upper (L6) or lower (L5) dense layer (the spec's own names work too), "
                   "the PReLU slopes, the KL term of Q7, or all of them.")
@click.option("--format", "fmt", type=click.Choice(("text", "latex", "markdown", "json")), default="text",
              show_default=True, help="Output format; json keys are a stable interface.")
def gradients_command(spec_path, shared, prelu, layer, fmt):
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
    from derive import gradients

    net = load_spec(spec_path, shared, prelu)
    found = gradients.derive_all(net, layer, net.shared_weights)
    click.echo(gradients.render(net, found, fmt, net.shared_weights), nl=False)


@cli.command("check")
@spec_options
@click.option("--data", "data_source", default="shapeset", show_default=True, metavar="shapeset|cifar10:PATH",
              help="Images the network is run on.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of every draw.")
@click.option("--steps", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="SGD steps replayed with the printed gradients.")
@click.option("--no-torch", is_flag=True, help="Skip the comparison with PyTorch's autograd.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (stable keys).")
def check_command(spec_path, shared, prelu, data_source, seed, steps, no_torch, as_json):
    """Certify every formula 'derive gradients' prints, on real tensors; exit 1 if any check fails.

    Every weight, bias and PReLU slope of the two top layers of both branches is compared with
    central finite differences of the full loss (exhaustively), with the network's backprop and
    with PyTorch's autograd; every definition, step, chain rule and hinge case is evaluated;
    SGD steps driven by the printed gradients must follow backprop's; the KL term is checked in
    both readings.

    \b
    Examples:
        derive check
        derive check --shared --json
        derive check --spec my-network.toml --seed 3
    """
    import json

    from derive import certificate

    net = load_spec(spec_path, shared, prelu)
    progress = (lambda phase: click.echo(f"checking: {phase} ...", err=True)) if sys.stderr.isatty() else None
    report = certificate.run(net, data_source, seed, steps=steps, use_torch=not no_torch, progress=progress)
    if as_json:
        click.echo(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        click.echo(certificate.render(report), nl=False)
    return 0 if report["ok"] else 1


@cli.command("bench-check")
@click.option("--spec", "spec_path", metavar="FILE", help="Architecture spec (TOML). Default: the exam's network.")
@click.option("--shared/--unshared", "shared", default=None, help="Tied or untied branches (overrides the spec).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of every draw.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON (stable keys).")
def bench_check_command(spec_path, shared, seed, as_json):
    """Time the certificate: exhaustive finite differences per coordinate vs torch's gradcheck.

    Times the central differences of every weight and bias of the two top layers of both
    branches (about 2.1 million coordinates for the default spec; target: 20 s), and
    torch.autograd.gradcheck on the same loss for a slice of those weights, per element, in the
    same run; prints the ratio. Also times 'derive gradients' from a cold start (target: 2 s).

    \b
    Examples:
        derive bench-check
        derive bench-check --json
    """
    import json

    from derive import checkbench

    net = load_spec(spec_path, shared)
    figures = checkbench.run(net, seed=seed)
    click.echo(json.dumps(figures, sort_keys=True) if as_json else checkbench.render(figures, net), nl=as_json)


def main():
    """Console-script entry point."""
    cli(prog_name="derive")
