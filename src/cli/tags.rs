//! `ml-operator tags REPOSITORY`: a repository's tags as the registry lists them.

use super::{Failure, TagsArgs, load_config, registry_client};
use crate::inventory::image::ImageRef;

pub(super) async fn tags(args: &TagsArgs) -> Result<u8, Failure> {
    let config = load_config(&args.registry)?;
    let image = ImageRef::parse(&args.repository).map_err(|e| Failure::Input(e.to_string()))?;
    if image.tag().is_some() || image.digest().is_some() {
        return Err(Failure::Input(format!(
            "{:?} names a tag or digest; give the repository only, e.g. {}",
            args.repository,
            image.familiar_name()
        )));
    }
    let registry = registry_client(&args.registry, &config)?;
    let list = registry
        .list_tags(image.registry(), &image.repository())
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let mut out = String::new();
    for tag in &list.tags {
        out.push_str(tag);
        out.push('\n');
    }
    print!("{out}");
    Ok(0)
}
