//! Get/create/replace of the one Lease, with API errors sorted into what the elector does next:
//! lost a race (re-read), transient (retry), or fatal ([`Error`]).

use crate::record::Record;
use crate::{Error, LeaseConfig};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};

/// What went wrong with one Lease request.
#[derive(Debug)]
pub(crate) enum Failure {
    /// 409 (resourceVersion conflict, or the Lease already exists) or 404 on update: another
    /// writer got there first. Not an error; re-read.
    Conflict,
    /// Fatal: 403 or an invalid request.
    Fatal(Error),
    /// Anything else (server unavailable, 5xx, 429, transport errors): retry later.
    Transient(kube::Error),
}

/// Which Lease operation failed; the RBAC verb it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Create,
    Update,
}

impl Verb {
    /// The RBAC verb.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Create => "create",
            Verb::Update => "update",
        }
    }
}

/// The Lease `namespace/name`, reached through kube-rs.
#[derive(Clone)]
pub(crate) struct LeaseApi {
    api: Api<Lease>,
    namespace: String,
    name: String,
}

impl LeaseApi {
    /// An API handle on the Lease named by `config`.
    pub fn new(client: kube::Client, config: &LeaseConfig) -> Self {
        LeaseApi {
            api: Api::namespaced(client, &config.namespace),
            namespace: config.namespace.clone(),
            name: config.name.clone(),
        }
    }

    /// Reads the Lease; `Ok(None)` when it does not exist.
    pub async fn get(&self) -> Result<Option<Lease>, Failure> {
        match self.api.get(&self.name).await {
            Ok(l) => Ok(Some(l)),
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(None),
            Err(e) => Err(self.classify(Verb::Get, e)),
        }
    }

    /// Creates the Lease holding `record`.
    pub async fn create(&self, record: &Record) -> Result<Lease, Failure> {
        let lease = record.new_lease(&self.namespace, &self.name);
        self.api
            .create(&PostParams::default(), &lease)
            .await
            .map_err(|e| self.classify(Verb::Create, e))
    }

    /// Replaces `base` (as last observed, with its `resourceVersion`) with `record` in its spec:
    /// an optimistic-concurrency write that fails with [`Failure::Conflict`] if the Lease changed.
    pub async fn replace(&self, base: &Lease, record: &Record) -> Result<Lease, Failure> {
        let mut lease = base.clone();
        record.write_to(&mut lease);
        // Managed fields are the server's business; sending them back is noise.
        lease.metadata.managed_fields = None;
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map_err(|e| self.classify(Verb::Update, e))
    }

    /// Sorts an error from `verb` into conflict, fatal or transient.
    fn classify(&self, verb: Verb, e: kube::Error) -> Failure {
        classify(&self.namespace, &self.name, verb, e)
    }
}

/// Sorts an API error: 409 (and 404 on update) is a lost race, 403 is a missing RBAC grant,
/// 400/422 an invalid request; everything else is retried.
pub(crate) fn classify(namespace: &str, name: &str, verb: Verb, e: kube::Error) -> Failure {
    let code = match &e {
        kube::Error::Api(s) => s.code,
        _ => return Failure::Transient(e),
    };
    match code {
        409 => Failure::Conflict,
        404 if verb == Verb::Update => Failure::Conflict,
        403 => Failure::Fatal(Error::Forbidden {
            namespace: namespace.into(),
            name: name.into(),
            verb: verb.as_str(),
            source: Box::new(e),
        }),
        400 | 422 => Failure::Fatal(Error::Rejected {
            namespace: namespace.into(),
            name: name.into(),
            verb: verb.as_str(),
            source: Box::new(e),
        }),
        _ => Failure::Transient(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("m", reason)
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn classification_follows_status_codes() {
        let c = |verb, code, reason| classify("ops", "l", verb, api(code, reason));
        assert!(matches!(
            c(Verb::Update, 409, "Conflict"),
            Failure::Conflict
        ));
        assert!(matches!(
            c(Verb::Create, 409, "AlreadyExists"),
            Failure::Conflict
        ));
        assert!(matches!(
            c(Verb::Update, 404, "NotFound"),
            Failure::Conflict
        ));
        assert!(matches!(
            c(Verb::Get, 404, "NotFound"),
            Failure::Transient(_)
        ));
        assert!(matches!(
            c(Verb::Create, 403, "Forbidden"),
            Failure::Fatal(Error::Forbidden { verb: "create", .. })
        ));
        assert!(matches!(
            c(Verb::Update, 422, "Invalid"),
            Failure::Fatal(Error::Rejected { verb: "update", .. })
        ));
        for code in [500, 503, 504, 429, 401] {
            assert!(
                matches!(c(Verb::Get, code, "x"), Failure::Transient(_)),
                "{code}"
            );
        }
        let transport = kube::Error::LinesCodecMaxLineLengthExceeded;
        assert!(matches!(
            classify("ops", "l", Verb::Get, transport),
            Failure::Transient(_)
        ));
    }
}
