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


def main():
    """Console-script entry point."""
    cli(prog_name="derive")
