#!/usr/bin/env python3
"""Build examples/tags.json, the offline tag index for the example hub.

`ml-operator check -f examples/hub --tags examples/tags.json` resolves every image of the
example hub against this index instead of a registry. The index is a JSON object from
repository to its tags, for exactly the repositories the hub's manifests use, with the tags
taken from the real Mojaloop tag data (`mojaloop-tags-with-git.json`, "the tags available")
in the order the data lists them.

Keys are spelled the way the manifests spell the repository: short (`mojaloop/x`, `redis`)
or, for an image written with its registry (`docker.io/mojaloop/x`, `quay.io/...`), fully
qualified.

Usage (from anywhere; python3 standard library only):

    python3 examples/build-tag-index.py                 # writes examples/tags.json
    python3 examples/build-tag-index.py /path/to/data   # another copy of the shared data
    python3 examples/build-tag-index.py --check         # exit 1 if tags.json is stale

DATA_DIR defaults to `../shared/data` relative to the repository root. The script fails
(exit 1) when a repository used by the hub has no tags in the data, unless that repository
is listed in INTENTIONALLY_UNKNOWN below (there are none today).
"""

import argparse
import json
import os
import re
import sys

EXAMPLES = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(EXAMPLES)
DEFAULT_DATA = os.path.join(REPO_ROOT, "..", "shared", "data")
DATA_FILE = "mojaloop-tags-with-git.json"

# Repositories the hub uses on purpose although the data has no tags for them (to show how
# `check` reports an unknown repository). Empty: every image of the hub is known.
INTENTIONALLY_UNKNOWN = set()

# `image: x`, `- image: x`, `image: "x"` (YAML) and `"image": "x"` (JSON); not imagePullPolicy.
IMAGE_LINE = re.compile(r"""^\s*(?:-\s+)?["']?image["']?\s*:\s*["']?([^"'\s,]+)["']?\s*,?\s*(?:#.*)?$""")

# Registries whose repositories the data also lists under the short name.
DOCKER_HUB = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


def manifest_files(hub):
    """Every .yaml/.yml/.json file under the hub directory, in a stable order."""
    for root, dirs, files in os.walk(hub):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".yaml", ".yml", ".json")):
                yield os.path.join(root, name)


def images_in(path):
    """The image references written in one manifest file, as (line number, image)."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            match = IMAGE_LINE.match(line)
            if match:
                yield number, match.group(1)


def repository_of(image):
    """The repository part of an image reference: no tag, no digest, registry kept."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return name


def data_key(repository, data):
    """The key under which the data lists a repository's tags, or None."""
    if repository in data:
        return repository
    for registry in DOCKER_HUB:
        if repository.startswith(registry):
            short = repository[len(registry):]
            if short.startswith("library/"):
                short = short[len("library/"):]
            if short in data:
                return short
    return None


def render(index):
    """The index as JSON, one repository per line so that diffs stay readable."""
    lines = [
        "  %s: %s" % (json.dumps(repository), json.dumps(tags))
        for repository, tags in sorted(index.items())
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def shown(path):
    """A path as the user should read it: relative to the repo root when inside it."""
    path = os.path.abspath(path)
    inside = os.path.commonpath([path, REPO_ROOT]) == REPO_ROOT
    return os.path.relpath(path, REPO_ROOT) if inside else path


def build(hub, data_dir):
    """Returns (index text, problems): the rendered index and what is missing."""
    data_path = os.path.normpath(os.path.join(data_dir, DATA_FILE))
    with open(data_path, encoding="utf-8") as f:
        data = json.load(f)
    seen = {}
    for path in manifest_files(hub):
        for number, image in images_in(path):
            seen.setdefault(repository_of(image), "%s:%d" % (shown(path), number))
    index, problems = {}, []
    for repository, where in sorted(seen.items()):
        key = data_key(repository, data)
        if key is None:
            if repository not in INTENTIONALLY_UNKNOWN:
                problems.append("%s (first used at %s) has no tags in %s" % (repository, where, data_path))
            continue
        index[repository] = data[key]
    return render(index), problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", default=DEFAULT_DATA,
                        help="directory holding %s (default: ../shared/data from the repo root)" % DATA_FILE)
    parser.add_argument("--hub", default=os.path.join(EXAMPLES, "hub"), help="manifests to read (default: examples/hub)")
    parser.add_argument("--out", default=os.path.join(EXAMPLES, "tags.json"), help="index to write (default: examples/tags.json)")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if --out differs from what would be written")
    args = parser.parse_args()

    try:
        text, problems = build(args.hub, args.data_dir)
    except (OSError, ValueError) as e:
        print("build-tag-index: cannot read the tag data: %s" % e, file=sys.stderr)
        return 2
    for problem in problems:
        print("build-tag-index: " + problem, file=sys.stderr)
    if problems:
        return 1
    if args.check:
        try:
            with open(args.out, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print("build-tag-index: %s is stale; run python3 examples/build-tag-index.py" % args.out, file=sys.stderr)
            return 1
        return 0
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print("build-tag-index: wrote %d repositories to %s" % (len(json.loads(text)), shown(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
