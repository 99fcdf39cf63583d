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
def spec_command(file):
    """Print the default spec, or validate FILE and print its layer shapes.

    \b
    Examples:
        derive spec > my-network.toml     # start from the default and edit it
        derive spec my-network.toml       # check a spec: shapes, or one line per problem
    """
    from derive import spec

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
    import time

    from derive import experiments

    net = load_spec(spec_path, shared, prelu)
    for name in names:
        experiments.describe(name)  # reject unknown names before running anything

    def bar(label, total):
        return click.progressbar(length=total, label=label, file=click.get_text_stream("stderr"))

    results = []
    for name in names or experiments.NAMES:
        start = time.perf_counter()
        result = experiments.run(name, spec=net, seed=seed, quick=quick, data=data, cache_dir=out,
                                 progress=bar, force=force)
        how = "cached" if result.cached else "computed"
        click.echo(f"{name}: {time.perf_counter() - start:.1f} s ({how})", err=True)
        results.append(result)
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
def sheet_command(spec_path, shared, prelu, lang, fmt, engine, out):
    """Write the correction sheet: corrige.<lang>.md/.tex/.pdf and figures/ into DIR.

    Every answer is computed and checked while the sheet is built; files are moved
    into DIR only when every requested format has been produced.

    \b
    Examples:
        derive sheet                                  # French: Markdown, LaTeX, PDF (typst) in build/
        derive sheet --lang en --format md --out docs
        derive sheet --pdf-engine latex --format pdf
    """
    from derive import sheet

    formats = sheet.parse_formats(fmt)
    net = load_spec(spec_path, shared, prelu)
    with click.progressbar(length=sheet.steps(formats), label=f"corrige.{lang}", file=sys.stderr,
                           item_show_func=lambda s: s, show_eta=False) as bar:
        try:
            written = sheet.build(net, lang, formats, engine, out, progress=lambda label: bar.update(1, label))
        except sheet.BuildFailed as exc:
            click.echo(f"derive: sheet not written: {exc}", err=True)
            return 1
    for path in written:
        if path.parent.name != "figures":
            click.echo(str(path))


def main():
    """Console-script entry point."""
    cli(prog_name="derive")
