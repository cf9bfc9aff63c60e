/*!
Decides which container image tag to upgrade to, and explains why.

Given an image's current tag (`v10.3.1`), the tags its registry lists, and an
upgrade [`Strategy`], [`resolve`] returns the newest tag the strategy allows
and a verdict for every candidate, so a report can say not only "upgrade to
`v10.3.4`" but also why `v11.0.0`, `v10.3.5-snapshot.1` and `latest` were
passed over. It is the version engine of ml-operator: pure, no I/O, no async.

Real registries are messy, so the rules are written for the tags Mojaloop and
common third-party images actually publish: `v` and no-`v` twins, 4-part
versions, `-pisp.N` and `-snapshot` tracks, Bitnami `-debian-11-r5`
revisions, `-alpine3.20` flavours, floating `7.2` tags, and junk such as
`latest`, git shas and `v.11.12.0`.

Start with [`resolve`]; [`Version`] is the parsed tag it compares, and
[`Resolution::reason`] / [`Resolution::explain`] are the words for users.

# Example: the newest allowed tag

```
use ml_operator_version::{resolve, Strategy};

let tags = ["v10.3.1", "v10.3.4", "v10.3.10", "v10.4.0", "v11.0.0", "v10.3.11-snapshot.2", "latest"];

let r = resolve("v10.3.1", tags, Strategy::Bugfix);
assert_eq!(r.latest(), Some("v10.3.10")); // numeric, not string, order
assert_eq!(
    r.reason(),
    "v10.3.10 is the newest 10.3.x tag (bugfix); 2 newer tags are outside bugfix \
     (newest v11.0.0 needs major), 1 is a pre-release or on another track",
);

assert_eq!(resolve("v10.3.1", tags, Strategy::Minor).latest(), Some("v10.4.0"));
assert_eq!(resolve("v10.3.1", tags, Strategy::Major).latest(), Some("v11.0.0"));
assert_eq!(resolve("v10.3.1", tags, Strategy::Patch).latest(), None); // up to date
```

# Example: tracks are never left

A tag on a suffix track only moves along that track, and a stable tag only
to stable tags:

```
use ml_operator_version::{resolve, Strategy};

let tags = ["v11.0.0-pisp.3", "v11.0.0-pisp.7", "v11.0.1-pisp.1", "v11.0.1", "v11.0.2-snapshot.4"];
assert_eq!(resolve("v11.0.0-pisp.3", tags, Strategy::Patch).latest(), Some("v11.0.0-pisp.7"));
assert_eq!(resolve("v11.0.0-pisp.3", tags, Strategy::Bugfix).latest(), Some("v11.0.1-pisp.1"));
assert_eq!(resolve("v11.0.0", tags, Strategy::Major).latest(), Some("v11.0.1"));

let bitnami = ["8.0.32-debian-11-r0", "8.0.32-debian-11-r5", "8.0.36-debian-11-r2", "8.0.36"];
assert_eq!(resolve("8.0.32-debian-11-r0", bitnami, Strategy::Patch).latest(), Some("8.0.32-debian-11-r5"));
assert_eq!(resolve("8.0.32-debian-11-r0", bitnami, Strategy::Bugfix).latest(), Some("8.0.36-debian-11-r2"));
```

# Example: parsing a tag

```
use ml_operator_version::Version;

let v = Version::parse("8.0.32-debian-11-r5").unwrap();
assert_eq!(v.numbers(), &[8, 0, 32]);
assert_eq!(v.prefix(), "");
assert_eq!(v.track(), Some("debian-11"));
assert_eq!(v.counter(), Some(5));
assert!(!v.is_prerelease()); // a platform flavour, not a pre-release

assert!(Version::parse("v10.3.10").unwrap() > Version::parse("v10.3.9").unwrap());
assert!(Version::parse("v14.2.4-snapshot.3").unwrap().is_prerelease());

let err = Version::parse("v10.5.2.0.0-pisp").unwrap_err();
assert_eq!(err.to_string(), "`v10.5.2.0.0-pisp` is not a version tag: more than 4 numeric parts (5)");
```

# Example: explaining a decision

```
use ml_operator_version::{resolve, Strategy};

let r = resolve("v10.3.1", ["v10.3.4", "v11.0.0", "v10.3.0", "main"], Strategy::Bugfix);
let text = r.explain();
assert!(text.starts_with("v10.3.1 -> v10.3.4 (bugfix): v10.3.4 is the newest 10.3.x tag"));
assert!(text.contains("v11.0.0  newer, but outside bugfix (needs major)"));
assert!(text.contains("main     not a version tag: a name, not a version number"));
assert!(text.ends_with("(1 older tag not listed)"));
```

# Reference: tag grammar

```text
tag     = [prefix] numbers ["-" suffix] ["+" build]
prefix  = "v" | "V"
numbers = N ["." N ["." N ["." N]]]          N = ASCII digits (u64)
suffix  = ident *( ("." | "-") ident )        ident = 1*( ALPHA | DIGIT | "_" )
build   = ident *( ("." | "-") ident )
```

Everything else is [`NotAVersion`]: names (`latest`, `main`, `stable`,
`local`), shas (`a1b2c3d`), `RELEASE.2023-07-21T21-12-44Z`, `v.11.12.0`, a
bare `v`, `9.1.0.perf.1` (a suffix starts with `-`), and 5-part Mojaloop tags
such as `v10.5.2.0.0-pisp` (more than 4 numeric parts).

The **suffix** splits into a *track* and a *counter*. The counter is the last
identifier when it is a number (`-pisp.3`, `-snapshot.12`, `-snapshot-12`), or
the digits glued to a counter word (`-rc1`, `-beta3`, `-r5`; the revision
marker `r` is dropped from the track). The track is the rest, lowercased,
without the separator before the counter:

| tag suffix                 | track                   | counter | pre-release |
|----------------------------|-------------------------|---------|-------------|
| (none)                     | `None` (stable)         | -       | no          |
| `-pisp.3`                  | `pisp`                  | 3       | yes         |
| `-snapshot.12`, `-snapshot-12` | `snapshot`          | 12      | yes         |
| `-snapshot`                | `snapshot`              | -       | yes         |
| `-rc1`                     | `rc`                    | 1       | yes         |
| `-debian-11-r5`            | `debian-11`             | 5       | no          |
| `-alpine`                  | `alpine`                | -       | no          |
| `-alpine3.20`              | `alpine3.20`            | -       | no          |
| `-versioning-poc-v2.1.0`   | `versioning-poc-v2.1.0` | -       | yes         |
| `-3` (numeric revision)    | `""`                    | 3       | no          |

A number right after a letter+digit word is part of that word, not a counter
(`alpine3.20`, `poc-v2.1.0`). A track is a pre-release when it has a
well-known pre-release word (alpha, beta, rc, snapshot, dev, pre, preview,
nightly, ...) or any word that is not a known platform or flavour word
(alpine, slim, debian, bullseye, bookworm, jammy, focal, management, ...):
feature-branch builds such as `-iso.1` and `-url-handling.1` are
pre-releases.

**Order.** Within a prefix style and track, versions order by their numbers
(component by component, missing ones as 0: `v10.3.10 > v10.3.9`), then by
the counter (none < 0 < 1 ...). The full [`Version`] order is total and
consistent with equality (equal means the same tag string): after the
numbers come the suffix kind (pre-release < stable < flavour), the track,
the counter, the number of parts, the prefix, the `+build` metadata, and
finally the tag itself.

# Reference: strategies

A candidate is considered only if it has the same prefix style (`v`, `V` or
none), the same track, and compatible precision: 3- and 4-part tags move
among each other (the fourth part is a revision, `v15.1.2.1`), while 1- and
2-part (floating) tags such as `redis:7.2` or `mysql:8` only move to tags with
as many parts. It must be newer than the current tag. Then:

| strategy           | keeps       | from `v10.3.1` may go to                 |
|--------------------|-------------|------------------------------------------|
| `patch`            | `X.Y.Z`     | `v10.3.1.2` (4th part), a newer counter  |
| `bugfix` (default) | `X.Y`       | `v10.3.4`, `v10.3.4.1`                   |
| `minor`            | `X`         | `v10.9.0`                                |
| `major`            | nothing     | `v14.2.5`                                |

The newest such candidate is chosen; without one the tag is up to date. The
current tag need not be listed (a deleted tag still resolves). A current tag
that is not a version is [`Outcome::Unresolved`].
*/

#![deny(missing_docs)]

mod explain;
mod parse;
mod resolve;
mod strategy;
mod track;
mod version;

pub use crate::parse::NotAVersion;
pub use crate::resolve::{Candidate, Outcome, Resolution, TagSet, Verdict, resolve};
pub use crate::strategy::{ParseStrategyError, Strategy};
pub use crate::version::Version;
