"""``kvt optimizers``: the optimizer registry (library: :mod:`kvt.optimizers`)."""

from __future__ import annotations

import click



@click.command("optimizers")
@click.argument("name", required=False)
def optimizers_command(name):
    """List the optimizers, or show one in full."""
    from kvt import optimizers  # the registry's declarative part: no TensorFlow

    if name is None:
        for entry_name in optimizers.names():
            entry = optimizers.entry(entry_name)
            defaults = ", ".join(f"{k}={v}" for k, v in entry.defaults.items())
            click.echo(f"{entry_name:<11} {entry.description}")
            click.echo(f"{'':<11}   defaults: {defaults}")
        return
    entry = optimizers.entry(name)  # the class is read from its source, not imported (no TensorFlow)
    click.echo(f"{entry.name}: {entry.description}")
    click.echo(f"class: {entry.class_path}")
    step = entry.train_step_summary()
    if step:
        click.echo(f"train step: {step}")
    click.echo("hyper-parameters (--opt key=value; --lr sets learning_rate):")
    declared = entry.declaration.defaults if entry.declaration else {}
    for key, value in entry.resolved_defaults().items():
        marker = "  (kvt default)" if key in entry.defaults else ""
        click.echo(f"  {key:<24} {value!r}{marker}")
        if key in declared:
            click.echo(f"  {'':<24} {entry.declaration[key].meaning}")
    if entry.notes:
        click.echo(f"notes: {entry.notes}")
