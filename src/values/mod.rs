//! Helm values: where, in a values tree, the image of a container comes from, and how to change
//! just that key in a values file.
//!
//! In: values as JSON (a Helm release's `chart.values` ⊕ `config`) or a values file's YAML text.
//! Out: the [`ImageKey`]s found (path, repository, tag; nothing else of the values is kept, since
//! values hold passwords), and edited file text with only the tag scalars changed. Pure: no I/O.
//!
//! - [`path`]: a key path in a values tree, printed the way `helm --set` reads it.
//! - [`images`]: the image keys of a tree (`repository`+`tag` mappings with an optional
//!   `registry`, `image: repo:tag` strings), and which of them render a given image.
//! - [`yaml`]: a values file read with the position of every scalar (anchors and merge keys
//!   followed to their definition), and edited in place.
//! - [`release`]: a Helm release Secret's payload (base64 → gzip → JSON) reduced to its image
//!   keys and the template each workload was rendered from.

pub mod images;
pub mod path;
pub mod release;
pub mod yaml;

pub use images::{ImageKey, Layout};
pub use path::{Segment, ValuesPath};
