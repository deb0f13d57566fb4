"""Commands that build images and look after the image store."""

from __future__ import annotations

import sys

import typer

from vmfleet import timeutil
from vmfleet.build import builds as build_mod
from vmfleet.build import store as images_mod
from vmfleet.cli import options
from vmfleet.cli.app import app, emit, home, open_registry, print_table, say
from vmfleet.cli.output import Progress, paint_state, wrap_list
from vmfleet.registry import spec

JSON = options.json_flag()
JSONL = options.jsonl_flag()


@app.command()
def build(
    spec_text: str = typer.Argument(..., metavar="SPEC", help="A generation spec, e.g. web@2023-10."),
    image_size: str = options.image_size("--image-size", None, "Image size: bytes or 4G, 4096M, 5GB."),
    image_type: str = typer.Option(
        None, "--image-type", help="qcow2, efi-raw or qcow2-gpt (default: by bootloader and pin)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Build even when a cached image exists."),
    builder: str = typer.Option("local", "--builder", help="local, or ssh://user@host[:port] (a Guix build host)."),
    timeout: float = options.duration("--timeout", None, "Give up after this long: 90s, 30m, 3h."),
    trust_new_host: bool = typer.Option(
        False, "--trust-new-host", help="Accept and record an SSH build host's unknown host key."),
    as_json: bool = JSON,
) -> None:
    """Build a generation's qcow2 image with guix time-machine (cached by inputs)."""
    reg = open_registry()
    gen = spec.resolve(reg, spec_text)
    with Progress() as progress:
        result = build_mod.ensure_image(reg, home(), gen, builder=builder, image_size=image_size,
                                        rebuild=rebuild, timeout=timeout,
                                        on_line=progress, trust_new_host=trust_new_host,
                                        image_type=image_type)
    sha, _path = build_mod.stored_image(result)
    say(f"{gen.label}: {'cached' if result.cached else 'built'} image {sha[:16]} "
        f"({(result.image_size or 0) / 2**20:.1f} MiB)")
    emit(_build_json(result), as_json, lambda b: sys.stdout.write(f"{b['image_path']}\n"))


@app.command()
def builds(system: str = typer.Argument(None, help="Only this system's builds."),
           colour: options.Colour = options.colour(), as_json: bool = JSON,
           as_jsonl: bool = JSONL) -> None:
    """List builds: generation, builder, status, duration, image sha256, size, when."""
    reg = open_registry()
    if system:
        from vmfleet.registry import generations

        generations.list_for(reg, system)  # an unknown system is an error, not an empty list
    build_mod.reap(reg, home(), remove_dirs=False)  # a killed build is not 'running'
    rows = [_build_json(b) for b in build_mod.list_builds(reg, system)]
    emit(rows, as_json, lambda rs: print_table(
        [[r["id"], r["generation"], r["builder"], paint_state(r["status"], colour.wanted()),
          timeutil.show_duration(r["duration"]),
          (r["image_sha256"] or "")[:12], _mib(r["image_size"]), timeutil.show(r["started"])]
         for r in rs],
        ["id", "generation", "builder", "status", "duration", "image", "size", "started (UTC)"]),
        as_jsonl=as_jsonl)


@app.command("build-log")
def build_log(spec_text: str = typer.Argument(..., metavar="SPEC", help="A generation spec.")) -> None:
    """Print the full log of a generation's last build."""
    reg = open_registry()
    gen = spec.resolve(reg, spec_text)
    last = build_mod.last_build(reg, gen)
    text = build_mod.log_of(reg, last.id)
    if last.status is build_mod.Status.RUNNING:  # still being written: read the live file
        live = home().logs / f"build-{last.id}.log"
        text = live.read_text(errors="replace") if live.exists() else text
    sys.stdout.write(text)


images_app = typer.Typer(help="The image store: list images, remove unused ones.", no_args_is_help=False)
app.add_typer(images_app, name="images")


@images_app.callback(invoke_without_command=True)
def images(ctx: typer.Context, as_json: bool = JSON, as_jsonl: bool = JSONL) -> None:
    """List the image store: sha256, size, generations built to it, VMs using it."""
    if ctx.invoked_subcommand:
        return
    rows = [_image_json(i) for i in images_mod.list_images(open_registry())]
    emit(rows, as_json, lambda rs: print_table(
        [[r["sha256"][:16], _mib(r["size"]), wrap_list(r["generations"]), wrap_list(r["vms"]),
          "present" if r["present"] else "file removed"] for r in rs],
        ["sha256", "size", "generations", "vms", "file"]), as_jsonl=as_jsonl)


@images_app.command("gc")
def images_gc(dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed."),
              as_json: bool = JSON) -> None:
    """Remove images no VM uses (they are rebuilt from their pins when needed)."""
    reg = open_registry()
    if not dry_run:  # work directories of killed builds and of killed image readers go too
        from vmfleet.inspect import disk

        for path in build_mod.reap(reg, home()) + disk.reap_abandoned():
            say(f"removed {path} (left by a killed vmfleet)")
    removed = images_mod.gc(reg, home(), dry_run=dry_run)
    freed = sum(i.size for i in removed)
    say(f"{'would remove' if dry_run else 'removed'} {len(removed)} images, {_mib(freed)}")
    emit([_image_json(i) for i in removed], as_json,
         lambda rs: [sys.stdout.write(f"{r['sha256']}  {_mib(r['size'])}\n") for r in rs])


def _build_json(b: build_mod.Build) -> dict:
    return {"id": b.id, "generation": b.label, "builder": b.builder, "status": b.status.value,
            "cached": b.cached, "command": list(b.command), "store_path": b.store_path,
            "image_sha256": b.image_sha256, "image_size": b.image_size, "image_path": b.image_path,
            "started": b.started, "finished": b.finished, "duration": b.duration,
            "exit_status": b.exit_status, "error": b.error, "options": b.options,
            "image_type": b.image_type, "firmware": b.firmware}


def _image_json(i: images_mod.ImageUse) -> dict:
    return {"sha256": i.sha256, "size": i.size, "path": i.path, "present": i.present,
            "generations": list(i.generations), "vms": list(i.vms)}


def _mib(size) -> str | None:
    return None if size is None else f"{size / 2**20:.1f} MiB"
