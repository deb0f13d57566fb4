"""What differs between two systems, layer by layer: channels, config, packages, files.

Each operand (a :class:`Side`) is a recorded generation (its config and channel pins from the
registry, its packages and files from the image of its latest successful build), an image file,
or a running VM (``vm:NAME``, read over SSH). Layers are compared independently; a layer that
one side cannot provide (a generation never built has no packages) is *skipped* with the reason,
not guessed.

- channels: per channel, commit A → B; with a local clone of the channel (``--channel-repo
  NAME=PATH``, or Guix's own checkout cache) the commit dates, how many commits lie between
  and whether B descends from A (otherwise it is a downgrade, or the histories diverged);
- config: a structural diff of the two ``operating-system`` declarations (vmfleet.scheme):
  fields changed, packages added/removed, services added/removed/reconfigured; optionally a
  unified diff of the texts;
- packages: the store items of both images grouped by package name, compared by store file
  name only (same name = same build inputs: a store name hashes them): added, removed, upgraded,
  downgraded, rebuilt (same version, new hash), with NAR size deltas and whether the system
  profile asked for the package;
- files: everything outside /gnu/store: added, removed, changed type/mode/owner/size/content/
  link target, with a unified diff for text files on request.

``to_json`` gives the stable JSON form documented by docs/diff.schema.json; ``render`` the
human one (one line per change, grouped by layer, in the manner of ``nix store diff-closures``).
"""
